"""Reports of a whole study store: headline, figures, tables, provenance.

==============  ===================================================================
module          what lives there
==============  ===================================================================
``table``       :func:`score_table`, :func:`metric_table`, :func:`provenance_table`,
                :func:`stack_layers` (labeled results read from the store's entries;
                summaries over included targets, which entries the figures draw)
``headline``    :func:`headline`: best layer per model and region on held-out targets,
                its bootstrap interval over targets and the noise ceiling
``figures``     the report's figures (built by :mod:`neuroxr.plot`), PNG/PDF/base64
``write``       :func:`write_report`: one self-contained HTML page or Markdown, rendered
                by jinja2 from ``templates/``
==============  ===================================================================

The command ``neuroxr report STORE [--out DIR] [--format html|md] [--figures png|pdf]``
(:mod:`neuroxr.cli.report`) writes the same report.
"""

from .headline import HEADLINE_COLUMNS, headline, target_table
from .table import METRIC_COLUMNS, TABLE_COLUMNS, ReportEntry, metric_table, provenance_table, score_table, stack_layers
from .write import FIGURE_FORMATS, FORMATS, write_report

__all__ = [
    "FIGURE_FORMATS",
    "FORMATS",
    "HEADLINE_COLUMNS",
    "METRIC_COLUMNS",
    "TABLE_COLUMNS",
    "ReportEntry",
    "headline",
    "metric_table",
    "provenance_table",
    "score_table",
    "stack_layers",
    "target_table",
    "write_report",
]
