"""Ratings in, codes out: loading, the MovieLens sets, id vocabularies, splits and synthetic data."""

from cfnb.data.loading import as_titles
from cfnb.data.movielens import data_home, movielens
from cfnb.data.ratings import Ratings, load_ratings
from cfnb.data.synthetic import synthetic
from cfnb.errors import DataWarning
from cfnb.names import ITEM, RATING, TIMESTAMP, USER

__all__ = ["Ratings", "load_ratings", "synthetic", "movielens", "data_home", "as_titles", "DataWarning",
           "USER", "ITEM", "RATING", "TIMESTAMP"]
