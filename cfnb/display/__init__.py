"""What a notebook shows: model summaries and graph pictures, learning curves, figures themed for the Lab."""

from cfnb.display.summaries import graph, load_ipython_extension, summary, unload_ipython_extension

__all__ = ["summary", "graph", "load_ipython_extension", "unload_ipython_extension"]
