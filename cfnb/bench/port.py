"""The lesson's models and training loop hand-written in Keras 3, as a user would without cfnb: the
`lesson-port` rows' side of the comparison (it lives here, not in the package's API)."""

from __future__ import annotations

import keras
from keras import layers, regularizers

#: The lesson as the benchmark runs it, for every kind: 4 epochs at 1e-2, then 4 at 1e-3.
PORT_STAGES = ((1e-2, 4), (1e-3, 4))
PORT_BATCH = 64


def lesson_port(kind, n_users, n_items, train_x, train_y, val_x, val_y, stages=PORT_STAGES, seed=0):
    """The lesson's model and training loop, hand-written in Keras 3 as a user would: no cfnb."""
    keras.utils.set_random_seed(seed)
    user_in = keras.Input(shape=(1,), dtype="int32", name="user_in")
    item_in = keras.Input(shape=(1,), dtype="int32", name="movie_in")
    u = layers.Embedding(n_users, 50, embeddings_regularizer=regularizers.l2(1e-4))(user_in)
    m = layers.Embedding(n_items, 50, embeddings_regularizer=regularizers.l2(1e-4))(item_in)
    if kind == "nn":
        x = layers.Flatten()(layers.Concatenate()([u, m]))
        x = layers.Dropout(0.3)(x)
        x = layers.Dense(70, activation="relu")(x)
        x = layers.Dropout(0.75)(x)
        x = layers.Dense(1)(x)
    else:
        x = layers.Flatten()(layers.Dot(axes=2)([u, m]))
        if kind == "bias":
            ub = layers.Flatten()(layers.Embedding(n_users, 1)(user_in))
            mb = layers.Flatten()(layers.Embedding(n_items, 1)(item_in))
            x = layers.Add()([x, ub, mb])
    model = keras.Model([user_in, item_in], x)
    model.compile(optimizer=keras.optimizers.Adam(stages[0][0]), loss="mse")
    for lr, epochs in stages:
        model.optimizer.learning_rate = lr
        model.fit(train_x, train_y, batch_size=PORT_BATCH, epochs=epochs, validation_data=(val_x, val_y),
                  verbose=0)
    return model
