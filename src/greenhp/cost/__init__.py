"""What a study will cost before it runs, and what it cost after.

``greenhp plan --estimate`` (:func:`estimate_study`) calibrates on this machine (or reads a
calibration file) and predicts the study; the workflow's ``footprint`` rule (:func:`study_footprint`)
accounts for what the study used. kWh, CO2e and cost come from greenhp.units everywhere.

Modules, from the bottom up (each imports only from those above it; docs/architecture.md):

- ``items``: the items of a study's cost and their named groups;
- ``snakemake_metadata``: Snakemake's private ``.snakemake/metadata`` (job times), read nowhere else;
- ``model``: a run's time and energy fitted to calibration points (no file access);
- ``calibration_file``: a calibration given as a file, checked against its schema;
- ``calibration``: calibration runs on this machine (through the training rules' run spec), reused
  when earlier ones match, and the overheads;
- ``predict``: the study's predicted cost, one function per item;
- ``tsv``: estimate.tsv and footprint.tsv;
- ``text``: what ``greenhp plan --estimate`` prints and the summary page's footprint lines;
- ``footprint``: what the study used, against the estimate;
- ``plan``: calibrate (or read), then predict.
"""

from greenhp.units import accounting

from .calibration import (CALIBRATION_VERSION, calibrate, calibration_settings, measure_overheads,
                          resolved_device, settings_key, study_records, time_process)
from .calibration_file import CalibrationError, load_calibration_file, read_calibration_file
from .footprint import (footprint, load_records, note_invalid, study_footprint, summary_footprint, union_seconds,
                        versus_estimate)
from .items import ITEMS, RECORD_ITEMS
from .model import (MIN_SPREAD, Calibration, PairFactor, Point, SubjectModel, fit_pair, fit_subject, idle_power_w,
                    point_from_record)
from .plan import estimate_study
from .predict import MODEL_ERROR, Estimate, lanes_for, predict
from .snakemake_metadata import METADATA_DIR, snakemake_jobs
from .text import footprint_summary_lines, format_calibration, format_estimate
from .tsv import (EST_COLUMNS, FOOT_COLUMNS, cell, estimate_rows, read_estimate_tsv, write_estimate_tsv,
                  write_footprint)

_cell = cell  # the name tests/test_footprint.py writes estimate.tsv cells with

__all__ = [
    "CALIBRATION_VERSION", "EST_COLUMNS", "FOOT_COLUMNS", "ITEMS", "METADATA_DIR", "MIN_SPREAD", "MODEL_ERROR",
    "RECORD_ITEMS", "Calibration", "CalibrationError", "Estimate", "PairFactor", "Point", "SubjectModel",
    "accounting", "calibrate", "calibration_settings", "cell", "estimate_rows", "estimate_study", "fit_pair",
    "fit_subject", "footprint", "footprint_summary_lines", "format_calibration", "format_estimate",
    "idle_power_w", "lanes_for", "load_calibration_file", "load_records", "measure_overheads", "note_invalid",
    "point_from_record", "predict", "read_calibration_file", "read_estimate_tsv", "resolved_device",
    "settings_key", "snakemake_jobs", "study_footprint", "study_records", "summary_footprint", "time_process",
    "union_seconds", "versus_estimate", "write_estimate_tsv", "write_footprint",
]
