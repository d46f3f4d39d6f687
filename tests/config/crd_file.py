"""Where Istio's reference CRDs are: the first `shared/istio-crds/crd-all.gen.yaml` above the
repository (test data only; the product never reads it). Worktrees sit one level deeper than the
main checkout, so the file is looked for in every parent."""

from __future__ import annotations

from pathlib import Path

_NAME = Path("shared") / "istio-crds" / "crd-all.gen.yaml"
_REPO = Path(__file__).resolve().parents[2]
CRD_FILE = next((p / _NAME for p in _REPO.parents if (p / _NAME).exists()), _REPO.parent / _NAME)
