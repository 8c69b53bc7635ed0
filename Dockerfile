# TaskFlow server image: Debian 12 packages only, as on the build machines.
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
USER taskflow
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/taskflow"]
CMD ["serve"]
