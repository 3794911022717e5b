# One image for both roles: `trainbot bot` and `trainbot worker` (or `trainbot run` for both).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# GPU workers train through the JAX backend (KERAS_BACKEND=jax); without a GPU it uses the CPU.
ARG GPU=false
RUN if [ "$GPU" = "true" ]; then pip install "jax[cuda12]>=0.4.30"; fi

COPY README.md ./
COPY trainbot ./trainbot
COPY storage ./storage
COPY trainer ./trainer
COPY bot ./bot
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 trainbot \
    && mkdir -p /data && chown trainbot /data

USER 10001
WORKDIR /data
ENV DATABASE_URL=sqlite:////data/trainbot.sqlite3

ENTRYPOINT ["trainbot"]
CMD ["run"]
