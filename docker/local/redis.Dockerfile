# Redis from Debian's package (7.0), for docker/compose.local.yml. Its data directory is /data,
# as in the redis image, so the compose file's `redis-server --appendonly yes` keeps the queue on
# the redis-data volume.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
VOLUME /data
EXPOSE 6379
# No configuration file: every interface, and protected mode off so that the other containers
# (not loopback) may connect; nothing publishes the port on the host.
CMD ["redis-server", "--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"]
