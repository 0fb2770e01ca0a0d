"""Launch the Digit Insight Studio (Gradio)."""

import sys

if __name__ == "__main__":
    print(
        "The studio is not built yet: the classifier, VAE and reading pipeline come first.\n"
        "Meanwhile: `make test` runs the test suite, "
        "`python train_classifier.py --config config_classifier.yaml` trains the classifier."
    )
    sys.exit(1)
