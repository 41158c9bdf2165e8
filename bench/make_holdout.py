"""Generate a hold-out eval set with the kit's generator: other emoji, backgrounds and seed.

The fusion rules of :mod:`matte.fuse` were designed on the public kit (``shared/eval``) and its
mirrored draw; this set is the check they were not designed on. It reuses the kit's
``make_set.py`` unchanged (imported, not copied) with another :class:`SetSpec`:

* the *second* alphabetical half of the emoji (the public set draws from the first);
* other photographs shipped in scikit-image as backgrounds (gravel, Hubble deep field,
  immunohistochemistry, coins, clock, moon, page, the right stereo motorcycle); the kit's
  own rules defocus the ones with a subject;
* another seed, ids ``h000``-``h039`` (``h039`` is 4000x3000).

Run it with the eval kit's venv (it needs scikit-image and scipy)::

    /work/evalenv/bin/python bench/make_holdout.py --out /work/evaldata/holdout \\
        --emoji-tgz /work/evaldata/cache/lobehub-fluent-emoji-3d-1.1.0.tgz
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOLDOUT_SEED = 777_2026
HOLDOUT_BACKGROUNDS = (
    "skimage:gravel",
    "skimage:hubble_deep_field",
    "skimage:immunohistochemistry",
    "skimage:coins",
    "skimage:clock",
    "skimage:moon",
    "skimage:page",
    "skimage:motorcycle_right",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kit", type=Path, default=ROOT.parent / "shared" / "eval",
                   help="folder of the eval kit (make_set.py)")
    p.add_argument("--seed", type=int, default=HOLDOUT_SEED)
    p.add_argument("--n", type=int, default=40)
    args, rest = p.parse_known_args(argv)
    spec_ = importlib.util.spec_from_file_location("make_set", args.kit / "make_set.py")
    if spec_ is None or spec_.loader is None:
        p.error(f"--kit {args.kit}: no make_set.py")
    kit = importlib.util.module_from_spec(spec_)
    sys.modules["make_set"] = kit  # its dataclasses look their module up
    spec_.loader.exec_module(kit)
    spec = kit.SetSpec(name="holdout", seed=args.seed, n=args.n, emoji_half=1,
                       backgrounds=HOLDOUT_BACKGROUNDS, id_prefix="h")
    return kit.main(rest, spec=spec, default_out=Path("holdout"), expected=None,
                    cache_dir=Path.home() / ".cache" / "matte" / "eval")


if __name__ == "__main__":
    sys.exit(main())
