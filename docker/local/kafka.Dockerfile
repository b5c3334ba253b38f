# Apache Kafka (KRaft) on Debian's Java 17, from the jars `scripts/stack fetch` resolves from Maven
# Central (stack/kafka/pom.xml): the same broker `make run` runs. Configured like the apache/kafka
# image, by KAFKA_* variables (KAFKA_NODE_ID -> node.id; `__` is `_`, `___` is `-`) and CLUSTER_ID;
# see kafka-entrypoint. Built by scripts/images-local with the jars in its context.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 1000 kafka \
    && useradd --system --uid 1000 --gid kafka --home-dir /var/lib/kafka --shell /usr/sbin/nologin kafka \
    && mkdir -p /var/lib/kafka/data /opt/kafka/config \
    && chown -R kafka:kafka /var/lib/kafka /opt/kafka/config
COPY log4j2.properties /opt/kafka/log4j2.properties
COPY kafka-entrypoint /usr/local/bin/
COPY kafka-ready /opt/kafka/bin/kafka-broker-api-versions.sh
COPY libs /opt/kafka/libs
ENV LANG=C.UTF-8 KAFKA_HEAP_OPTS="-Xms256m -Xmx512m"
USER kafka
VOLUME /var/lib/kafka/data
EXPOSE 9092 9093
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=12 \
  CMD ["/opt/kafka/bin/kafka-broker-api-versions.sh", "--bootstrap-server", "localhost:9092"]
ENTRYPOINT ["kafka-entrypoint"]
