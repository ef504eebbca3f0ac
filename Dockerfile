FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends lua5.4 bubblewrap tcl gcc libc6-dev libpq5 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY . .
ENV DATA_DIR=/data
