# syntax=docker/dockerfile:1
# One image for the `tuner` CLI, its GPU workers and optuna-dashboard (see docs/deployment.md).
#
# Base: python:3.11-slim, not nvidia/cuda. torch's CUDA wheels carry their own CUDA runtime, cuBLAS and
# cuDNN as pip packages; all a container needs from the host is the driver, and the NVIDIA container
# toolkit mounts that in when compose reserves a GPU. An nvidia/cuda runtime base would add a second
# copy of the CUDA libraries (gigabytes) that torch never loads. Pin a digest (@sha256:...) in production.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# A fixed uid, so bind mounts (reports/) and the secret files can be made readable for it on the host.
# The data and cache folders exist in the image so that new named volumes inherit their owner.
RUN useradd --create-home --uid 1000 --user-group tuner \
 && install -d -o tuner -g tuner /var/lib/tuner/data /var/lib/tuner/cache /work

WORKDIR /opt/seqrec-tuner

# torch on its own, first: the biggest layer, rebuilt only when these build args change.
# The default is a CUDA 12.x build (driver >= 525); PyPI's own Linux wheel of torch 2.13 is CUDA 13
# (driver >= 580). For a CPU image: --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC"

# The other dependencies, read from pyproject.toml alone: editing the source reuses this layer.
# optuna-dashboard is small (pure Python) and shares this image so it runs the workers' optuna and driver.
ARG OPTUNA_DASHBOARD_SPEC=optuna-dashboard==0.21.0
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt "$OPTUNA_DASHBOARD_SPEC" \
 && rm /tmp/requirements.txt

# The project itself (the built-in ml-100k dataset ships inside the package); its dependencies are in already.
COPY README.md ./
COPY tuner ./tuner
RUN pip install --no-deps . && rm -rf build ./*.egg-info

USER tuner
WORKDIR /work
ENV TUNER_DATA_DIR=/var/lib/tuner/data \
    TUNER_CACHE_DIR=/var/lib/tuner/cache
ENTRYPOINT ["tuner"]
CMD ["--help"]
