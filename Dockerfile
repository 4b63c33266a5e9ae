# syntax=docker/dockerfile:1
# One image per service:
#   docker build --build-arg SERVICE=Orchestrator  -t tstitch/orchestrator:dev .
#   docker build --build-arg SERVICE=SmallDenoiser -t tstitch/denoiser:dev .   (either denoiser: the
#   image holds the whole zoo; Denoiser__Model picks small.json or large.json)
# GPU denoisers (ONNX Runtime's CUDA package + a CUDA/cuDNN runtime base):
#   docker build --build-arg SERVICE=LargeDenoiser --build-arg ORT_FLAVOR=gpu -t tstitch/denoiser:dev-cuda .
# See docs/operations.md.

# Orchestrator | SmallDenoiser | LargeDenoiser (a folder under services/)
ARG SERVICE=Orchestrator
# cpu | gpu: the ONNX Runtime package (-p:OnnxRuntimeFlavor) and the runtime base image
ARG ORT_FLAVOR=cpu
ARG DOTNET_VERSION=10.0
# CUDA 12 + cuDNN 9, what ONNX Runtime 1.2x/1.3x GPU builds are made against
ARG CUDA_IMAGE=nvidia/cuda:12.9.1-cudnn-runtime-ubuntu24.04

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS sources
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props TStitch.sln ./
COPY protos/ protos/
COPY src/ src/
COPY services/ services/

# The built-in model zoo, built deterministically (~3 s, nothing downloaded); empty for the orchestrator.
FROM sources AS zoo
ARG SERVICE
RUN mkdir -p /models && if [ "$SERVICE" != "Orchestrator" ]; then \
      dotnet run --project src/TStitch.Cli -c Release -- zoo build --out /models; \
    fi

FROM sources AS publish
ARG SERVICE
ARG ORT_FLAVOR
RUN test -f "services/$SERVICE/$SERVICE.csproj" || { echo "SERVICE must be Orchestrator, SmallDenoiser or LargeDenoiser, got '$SERVICE'"; exit 1; }
RUN dotnet publish "services/$SERVICE" -c Release -o /app -p:OnnxRuntimeFlavor=$ORT_FLAVOR \
 && ln -s "/app/$SERVICE" /app/service

# Runtime bases. cpu: the ASP.NET Core runtime image (non-root user `app`, uid $APP_UID).
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime-cpu

# gpu: CUDA + cuDNN runtime with the ASP.NET Core runtime copied in (same Ubuntu 24.04 base).
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS dotnet-runtime
FROM ${CUDA_IMAGE} AS runtime-gpu
COPY --from=dotnet-runtime /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates libicu74 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1654 --user-group --no-create-home app
ENV APP_UID=1654 DOTNET_ROOT=/usr/share/dotnet

FROM runtime-${ORT_FLAVOR} AS final
WORKDIR /app
COPY --from=publish /app /app
COPY --from=zoo /models /models
# Urls: the appsettings.json default binds loopback only (safe outside containers), so a container
# must set Urls=http://0.0.0.0:<port> (compose and k8s do); HTTP_PORTS would only warn.
# The zoo is baked in at /models: a missing manifest is a configuration error, not something to build
# at start. Denoiser__Model (/models/small.json or /models/large.json) is set by compose / k8s.
ENV ASPNETCORE_HTTP_PORTS= \
    Denoiser__BuildZooIfMissing=false
USER $APP_UID
# /app/service -> /app/$SERVICE (the apphost). `/app/service --health-probe` is the health check.
ENTRYPOINT ["/app/service"]
