"""dat_edu: the Deformable Attention Transformer (DAT v1), built one concept per module.

Read the modules in the order of the lessons: conv, norm, mlp, sampling, offsets, attention,
windows, position_bias, deformable, model, weights. Training lives in train and data/,
course tooling (executing, generating and grading notebooks) in course/.
"""

__version__ = "0.1.0"
