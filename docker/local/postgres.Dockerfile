# PostgreSQL 15 from Debian's package, for docker/compose.local.yml. Like the postgres image: a
# cluster in PGDATA made on the first start with the POSTGRES_USER (superuser), POSTGRES_PASSWORD
# and POSTGRES_DB of the environment (postgres-entrypoint), password logins from the network.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
# No cluster of Debian's own (pg_createcluster): the entrypoint makes the one in PGDATA.
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
COPY postgres-entrypoint /usr/local/bin/
ENV LANG=C.UTF-8 \
    PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["postgres-entrypoint"]
