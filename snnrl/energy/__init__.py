"""Energy on neuromorphic chips: chip models as data, exact counts priced per operation.

Counting lives with the networks (:mod:`snnrl.networks.counts`); this package prices counts
(:mod:`snnrl.energy.model`) with chip files (:mod:`snnrl.energy.chips`, ``conf/chip/*.yaml``)
and reports them (:mod:`snnrl.energy.report`, ``snnrl energy RUN_DIR``).
"""

from snnrl.energy.chips import Chip, ChipFileError, Price, load_chip, load_chips, parse_chip
from snnrl.energy.model import Assumptions, Estimate, ann_twin_ops, estimate, fit_check

__all__ = ["Assumptions", "Chip", "ChipFileError", "Estimate", "Price", "ann_twin_ops",
           "estimate", "fit_check", "load_chip", "load_chips", "parse_chip"]
