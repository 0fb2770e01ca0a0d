"""Digit Insight Studio: sketch a number, see it read, explained and reimagined.

    python demo.py [--classifier checkpoints/classifier.pth] [--vae checkpoints/vae.pth]
                   [--host 127.0.0.1] [--port 7860] [--share]

The page is a thin Gradio layer: every decision is made in `src/` (`Studio.analyze`,
`src.ui`). Named API endpoints for programs take an image file:
`Client(url).predict(handle_file("number.png"), api_name="/read")` returns the reading
as JSON, `api_name="/report"` a self-contained HTML report, and
`predict(handle_file("number.png"), "2026", api_name="/restyle")` that number in the
drawing's hand (picture, message). On a Hugging Face Space
(`SPACE_ID` set) the server binds 0.0.0.0, elsewhere 127.0.0.1 unless --host says.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "assets" / "examples"

CSS = """
.dis-number { font-size: 3.2rem; font-weight: 700; letter-spacing: 0.15em; line-height: 1.2; }
.dis-chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.dis-chip { border: 1px solid #9ca3af; border-radius: 8px; padding: 2px 8px; }
.dis-chip small { color: #6b7280; margin-left: 4px; }
.dis-uncertain { border-color: #f59e0b; background: #fef3c7; color: #78350f; }
.dis-doubt { margin-left: 6px; }
.dis-hint { font-size: 1.1rem; color: #6b7280; }
"""

# A plain Sketchpad opens with no tool selected and ignores the first strokes until the
# Brush button is clicked. Select it for the user as soon as the page is ready.
SELECT_BRUSH_JS = """
() => {
  const pick = () => {
    const root = document.querySelector('#sketchpad');
    if (!root) return false;
    const button = root.querySelector(
      'button[aria-label="Brush"], button[aria-label="Draw"], ' +
      'button[title="Brush"], button[title="Draw"]');
    if (!button) return false;
    if (button.getAttribute('aria-pressed') !== 'true') button.click();
    return true;
  };
  let tries = 0;
  const timer = setInterval(() => { if (pick() || ++tries > 50) clearInterval(timer); }, 100);
}
"""


def build_app(studio):
    """The Gradio Blocks of the studio, bound to a loaded `Studio`."""
    import gradio as gr

    from src.studio import LINE_METHOD
    from src.ui import analyze_drawing, read_api, report_api, restyle_api, restyle_drawing
    from src.utils.gradcam import METHODS

    analyze = partial(analyze_drawing, studio)
    with gr.Blocks(title="Digit Insight Studio") as app:
        gr.Markdown(
            "# Digit Insight Studio\n"
            "Write any number with the mouse or a pen. The studio reads each digit, shows "
            "which strokes drove each decision (Grad-CAM) and imagines variations with a VAE."
        )
        with gr.Row(), gr.Column():
            with gr.Tabs():
                with gr.Tab("Draw"):
                    sketch = gr.Sketchpad(
                        elem_id="sketchpad",
                        label="Sketchpad: write a number",
                        canvas_size=(1100, 360),
                        fixed_canvas=True,
                        height=440,
                        brush=gr.Brush(default_size=8, colors=["#111111"], color_mode="fixed"),
                        eraser=gr.Eraser(default_size=30),
                        layers=False,
                        type="numpy",
                        image_mode="RGBA",
                    )
                with gr.Tab("Upload a photo or scan"):
                    upload = gr.Image(
                        elem_id="upload",
                        label="Photo or scan of a written number",
                        sources=["upload", "clipboard"],
                        type="numpy",
                        image_mode="RGBA",
                    )
            read_button = gr.Button("Read", variant="primary", elem_id="read-button")
        with gr.Row():
            with gr.Column(scale=2):
                summary = gr.HTML(elem_id="summary", value=analyze(None)[0])
                report = gr.DownloadButton("Download report", elem_id="download-report",
                                           value=None, size="sm")  # fmt: skip
            with gr.Column(scale=3):
                annotated = gr.Image(label="How the drawing was cut", elem_id="annotated",
                                     interactive=False, height=220)  # fmt: skip
        with gr.Row():
            methods = list(METHODS) + ([LINE_METHOD] if studio.line_reader is not None else [])
            method = gr.Dropdown(methods, value="Grad-CAM", label="Explanation method")
            n_variations = gr.Slider(0, 16, value=8, step=1, label="VAE variations per digit")
            temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.1, label="Variation temperature")
        with gr.Row():
            heatmaps = gr.Gallery(label="Why: one heatmap per digit", elem_id="heatmaps",
                                  columns=8, fit_columns=False, height=190,
                                  object_fit="contain", format="png")  # fmt: skip
        with gr.Row():
            variations = gr.Gallery(label="Imagine: VAE variations of each digit",
                                    elem_id="variations", columns=6, fit_columns=False,
                                    height=190, object_fit="contain",
                                    format="png")  # fmt: skip
        with gr.Accordion("Morph between two digits", open=False):
            with gr.Row():
                morph_from = gr.Number(value=1, precision=0, minimum=1, label="from digit #")
                morph_to = gr.Number(value=2, precision=0, minimum=1, label="to digit #")
            morph = gr.Image(label="Interpolation in the VAE's latent space", interactive=False,
                             format="png")  # fmt: skip

        with gr.Accordion("Write it in my hand", open=True, visible=studio.style_vae is not None):
            with gr.Row():
                restyle_text = gr.Textbox(label="Any number (up to 16 digits)", value="2026",
                                          elem_id="restyle-text", max_lines=1, scale=2)  # fmt: skip
                restyle_button = gr.Button("Write it in my hand", elem_id="restyle-button",
                                           scale=1)  # fmt: skip
            restyle_message = gr.HTML(elem_id="restyle-message")
            restyled = gr.Image(label="In your hand", elem_id="restyle-output",
                                interactive=False, format="png", height=200)  # fmt: skip
        restyle_inputs = [sketch, upload, restyle_text]
        restyle_outputs = [restyled, restyle_message]
        for trigger in (restyle_button.click, restyle_text.submit):
            trigger(partial(restyle_drawing, studio), inputs=restyle_inputs,
                    outputs=restyle_outputs, api_visibility="private")  # fmt: skip

        controls = [method, n_variations, temperature, morph_from, morph_to]
        outputs = [summary, annotated, heatmaps, variations, morph, report]
        common = dict(outputs=outputs, trigger_mode="always_last", show_progress="minimal")
        sketch.change(analyze, inputs=[sketch, *controls], api_visibility="private", **common)
        read_button.click(analyze, inputs=[sketch, *controls], api_visibility="private", **common)
        upload.change(analyze, inputs=[upload, *controls], api_visibility="private", **common)
        for control in controls:
            control.change(analyze, inputs=[sketch, *controls], api_visibility="private", **common)

        examples = sorted(EXAMPLES.glob("*.png"))
        if examples:
            gr.Examples(
                examples=[[str(p)] for p in examples],
                inputs=[upload],
                label="Real handwriting (UCI pen digits, CC BY 4.0): click one",
            )

        # Named endpoints for programs: gradio_client ... api_name="/read" or "/report".
        # They take a plain file, not an Image component: an Image's preprocessing would
        # fail on a file that is not an image (or a decompression bomb) before the
        # studio's own checks could answer it with a sentence.
        api_file = gr.File(visible=False, type="filepath")
        api_result = gr.JSON(visible=False)
        api_report = gr.File(visible=False)
        api_button = gr.Button(visible=False)
        api_button.click(partial(read_api, studio), inputs=api_file, outputs=api_result,
                         api_name="read")  # fmt: skip
        report_button = gr.Button(visible=False)
        report_button.click(partial(report_api, studio), inputs=api_file,
                            outputs=api_report, api_name="report")  # fmt: skip
        api_text = gr.Textbox(visible=False)
        api_picture = gr.Image(visible=False, type="numpy", format="png")
        api_message = gr.Textbox(visible=False)
        restyle_api_button = gr.Button(visible=False)
        restyle_api_button.click(partial(restyle_api, studio), inputs=[api_file, api_text],
                                 outputs=[api_picture, api_message],
                                 api_name="restyle")  # fmt: skip
        app.load(None, js=SELECT_BRUSH_JS)
    return app


def default_host() -> str:
    """0.0.0.0 on a Hugging Face Space (it sets SPACE_ID and proxies to the container),
    127.0.0.1 anywhere else: a laptop's studio is not served to its network by default."""
    return "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", default=str(ROOT / "checkpoints" / "classifier.pth"))
    parser.add_argument("--vae", default=str(ROOT / "checkpoints" / "vae.pth"))
    parser.add_argument("--host", default=default_host(), help="0.0.0.0 serves a network")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="public Gradio share link")
    parser.add_argument("--device", default="cpu", help="auto | cpu | cuda | mps")
    args = parser.parse_args(argv)

    from src.checkpoint import CheckpointError
    from src.studio import Studio

    if not Path(args.classifier).is_file():
        print(
            f"No classifier checkpoint at {args.classifier}.\n"
            "Train one with `python train_classifier.py --config config_classifier.yaml` "
            "(about 90 s on a laptop CPU), or pass --classifier PATH.",
            file=sys.stderr,
        )
        return 1
    try:
        studio = Studio.load(args.classifier, args.vae, device=args.device)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for warning in studio.warnings:  # an optional model that could not be loaded
        print(f"warning: {warning}", file=sys.stderr)
    app = build_app(studio)
    app.queue(default_concurrency_limit=2, max_size=64)
    app.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size="20mb",
        css=CSS,
        show_error=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
