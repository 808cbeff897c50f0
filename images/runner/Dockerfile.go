# The standard runner (same first steps as Dockerfile) plus Debian's Go toolchain.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
ARG TARGETARCH
ARG DEBIAN_SUITE
USER 0:0
RUN --mount=type=cache,id=apt-lists-${DEBIAN_SUITE}-${TARGETARCH},target=/var/lib/apt/lists,sharing=private \
    --mount=type=cache,id=apt-cache-${DEBIAN_SUITE}-${TARGETARCH},target=/var/cache/apt,sharing=private \
    apt-install git curl ca-certificates \
 && useradd --uid 1001 --user-group --create-home --shell /bin/bash runner \
 && install -d -o runner -g runner /home/runner/work
# golang-go is the native toolchain of each architecture: `go` builds for it by default.
RUN --mount=type=cache,id=apt-lists-${DEBIAN_SUITE}-${TARGETARCH},target=/var/lib/apt/lists,sharing=private \
    --mount=type=cache,id=apt-cache-${DEBIAN_SUITE}-${TARGETARCH},target=/var/cache/apt,sharing=private \
    apt-install golang-go
ENV GOPATH=/home/runner/go \
    PATH=/home/runner/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER runner
WORKDIR /home/runner/work
CMD ["bash"]
