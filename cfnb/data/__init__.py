"""Ratings in, codes out: loading, the MovieLens sets, id vocabularies, splits and synthetic data."""

from cfnb.data.loading import DUPLICATE_POLICIES, USUAL_NAMES, as_titles
from cfnb.data.movielens import data_home, movielens
from cfnb.data.ratings import Ratings, load_ratings
from cfnb.data.synthetic import synthetic
from cfnb.data.vocabulary import Vocabulary, as_id_array
from cfnb.errors import DataWarning
from cfnb.names import ITEM, RATING, TIMESTAMP, USER

__all__ = ["Ratings", "load_ratings", "synthetic", "movielens", "data_home", "as_titles", "as_id_array",
           "Vocabulary", "DataWarning", "DUPLICATE_POLICIES", "USUAL_NAMES", "USER", "ITEM", "RATING", "TIMESTAMP"]
