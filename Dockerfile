# The driftline worker image: Python 3.11 with the compiled kernels. Models come from a mounted
# registry volume, never baked into the image, so a model change needs no rebuild.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . && pip wheel --wheel-dir /wheels '.[train]'

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV DRIFTLINE_REGISTRY=/registry
VOLUME /registry
ENTRYPOINT ["driftline"]
CMD ["worker"]
