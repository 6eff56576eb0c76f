"""What a notebook shows: model summaries and graph pictures, learning curves, figures themed for the Lab."""

from cfnb.display.figures import (INK, SERIES, figure_html, figure_png, figure_svg, intersects, new_figure,
                                  overlapping, themed)
from cfnb.display.history import (history_figure, history_html, history_png, history_svg, plot_history,
                                  robust_top)
from cfnb.display.summaries import (GraphPicture, ModelSummary, graph, graph_svg, load_ipython_extension, summary,
                                    unload_ipython_extension)

__all__ = ["summary", "graph", "graph_svg", "ModelSummary", "GraphPicture", "load_ipython_extension",
           "unload_ipython_extension", "INK", "SERIES", "themed", "new_figure", "figure_svg", "figure_html",
           "figure_png", "intersects", "overlapping", "robust_top", "plot_history", "history_figure", "history_png",
           "history_svg", "history_html"]
