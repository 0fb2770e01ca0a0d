"""Reading a drawing, one module per step, in the order a drawing goes through them:

    ink.py        any image -> a map of ink in [0, 1]
    regions.py    ink -> digit-sized regions, grouped into lines, in reading order
    line_view.py  each line through the line reader (CRNN + CTC): its digits and columns
    cuts.py       the ways each region may be cut into digits
    normalize.py  each piece -> an MNIST-like 28x28 digit
    fusion.py     each cut and labelling scored by the classifier and the line reader
    pipeline.py   `read_ink`: the steps in order, and the `Reading` they produce

`src.studio.Studio` binds this to the shipped models.
"""
