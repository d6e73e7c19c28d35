"""Bring your own data: converters between neuroxr layouts and other tools' objects and files.

=====================================  =============================================================
Source / target                        Functions
=====================================  =============================================================
Brain-Score assemblies and scores      :func:`from_brainscore`, :func:`to_brainscore`,
                                       :func:`to_brainscore_score`
rsatoolbox ``Dataset`` / ``RDMs``      :func:`from_rsatoolbox`, :func:`to_rsatoolbox`,
                                       :func:`from_rsatoolbox_rdms`, :func:`to_rsatoolbox_rdms`
tidy DataFrames                        :func:`from_dataframe`, :func:`to_dataframe`
NWB units + presentation intervals     :func:`from_nwb`, :func:`spike_counts`
HDF5 / NPZ / NPY arrays with ids       :func:`read_array`
=====================================  =============================================================

Every reader returns a layout that passes :func:`neuroxr.layouts.validate_neural` (or
``validate_features``); malformed input raises a one-line :class:`neuroxr.errors.LayoutError`.
Optional libraries (rsatoolbox, pynwb, h5py, brainscore_core) are imported only when used.
"""

from .arrays import read_array
from .brainscore import from_brainscore, to_brainscore, to_brainscore_score
from .nwb import from_nwb, spike_counts
from .rsa import from_rsatoolbox, from_rsatoolbox_rdms, to_rsatoolbox, to_rsatoolbox_rdms
from .tidy import from_dataframe, to_dataframe

__all__ = [
    "from_brainscore",
    "to_brainscore",
    "to_brainscore_score",
    "from_rsatoolbox",
    "to_rsatoolbox",
    "from_rsatoolbox_rdms",
    "to_rsatoolbox_rdms",
    "from_dataframe",
    "to_dataframe",
    "from_nwb",
    "spike_counts",
    "read_array",
]
