# The Python base of docker/Dockerfile where no registry of images can be reached: Debian's Python
# 3.11 (python3, python3-venv for `python3 -m venv` with pip) and the machine's CA certificates,
# which pip needs when HTTPS goes through an inspecting proxy (PIP_CERT). Built by
# scripts/images-local from the Debian image it made with debootstrap.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3 python3-venv ca-certificates passwd \
    && rm -rf /var/lib/apt/lists/*
# The build machine's CA bundle, added to Debian's (update-ca-certificates appends it).
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
RUN update-ca-certificates >/dev/null
ENV LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
