"""The training report: what it shows as plain data, its drawing (matplotlib), and the
processes that draw a batch's reports side by side."""
