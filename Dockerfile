FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CONFIOTES_DATA_DIR=/data
WORKDIR /app
# pg_dump/pg_restore for manage.py backup and restore (Debian bookworm's client is PostgreSQL 15,
# the server version of docker-compose.yml: pg_dump refuses a newer server).
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
RUN mkdir -p /data && DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "api.wsgi:application", "--config", "gunicorn.conf.py"]
