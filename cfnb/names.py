"""The names cfnb looks things up by: the columns of `Ratings.frame` and the layers of a model.

Saved models depend on the layer names, so the item side keeps the lesson's word: `movie_in`.
"""

# Columns of Ratings.frame (codes, not raw ids, in USER and ITEM).
USER, ITEM, RATING, TIMESTAMP = "user", "item", "rating", "timestamp"

# Inputs and layers of cfnb's models, as saved in their files.
USER_IN, ITEM_IN = "user_in", "movie_in"
USER_FACTORS, ITEM_FACTORS = "user_factors", "movie_factors"
USER_BIAS, ITEM_BIAS = "user_bias", "movie_bias"
USER_MLP_FACTORS, ITEM_MLP_FACTORS = "user_mlp_factors", "movie_mlp_factors"  # NeuMF's MLP tables
Y_RANGE = "y_range"
