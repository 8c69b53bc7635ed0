# TaskFlow server image: the C server from Debian 12 packages, as on the build
# machines, serving the dashboard's static export (built with Node.js 20).
FROM node:20-bookworm-slim AS frontend
WORKDIR /frontend
ENV NEXT_TELEMETRY_DISABLED=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend ./
RUN node_modules/.bin/next build

FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential pkg-config meson ninja-build cmake \
      libh2o-evloop-dev libwslay-dev libjansson-dev libjwt-dev libpq-dev libical-dev \
      libcurl4-openssl-dev librdkafka-dev libsodium-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY src src
COPY migrations migrations
COPY tools tools
RUN meson setup build --buildtype=release -Dtests=false && ninja -C build

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libh2o-evloop0.13 libwslay1 libjansson4 libjwt0 libpq5 libical3 libcurl4 \
      librdkafka1 libsodium23 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 taskflow
COPY --from=build /src/build/taskflow /usr/local/bin/taskflow
COPY --from=frontend /frontend/out /usr/share/taskflow/www
USER taskflow
ENV HOST=0.0.0.0 PORT=8000 FRONTEND_DIR=/usr/share/taskflow/www
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/taskflow"]
CMD ["serve"]
