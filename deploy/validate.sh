#!/usr/bin/env bash
# Validate the deployment files without a cluster or a Docker engine: render the Kustomize trees, check
# every object against the Kubernetes schemas (and ours for custom resources), check docker-compose.yaml
# against the Compose Specification, and the Dockerfile. See deploy/validate.py for the details.
# Tools come from PyPI into .venv-deploy, pinned in deploy/requirements-validate.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-deploy
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.installed-$(sha256sum deploy/requirements-validate.txt | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # --ignore-requires-python: pykustomize says Python >= 3.14 but runs on 3.11 (see the requirements file).
  "$VENV/bin/python" -m pip install --quiet --no-deps --ignore-requires-python -r deploy/requirements-validate.txt
  touch "$STAMP"
fi
exec "$VENV/bin/python" deploy/validate.py "$@"
