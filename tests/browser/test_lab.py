"""The course in a real browser: `make lab` opens it, the widgets of lessons 03-05 redraw, an
exercise's check cell speaks to the learner.

Each widget test runs the whole lesson with JupyterLab's "Run All Cells", then moves one slider
(keyboard on the focused slider handle, as a learner can) and presses one button, and proves that
the figure changed: the SHA-256 of the widget's rendered image differs before and after.
"""
from __future__ import annotations

import hashlib

import pytest

from lab_helpers import api, open_notebook, run_all, token_url

# lesson, slider label, button text, and what to set first so that the button changes the figure
WIDGETS = [
    ("notebooks/03_sampling.ipynb", "move x", "reset", None),
    ("notebooks/04_offsets.ipynb", "per-point jitter", "new jitter", None),
    ("notebooks/05_attention.ipynb", "query row", "new offsets", ("attention", "deformable")),
]


def test_make_lab_opens_lesson_00_with_the_whole_course_reachable(lab, page):
    page.goto(token_url(lab))  # what the URL printed by `make lab` opens
    page.wait_for_url("**/lab/tree/notebooks/00_start_here.ipynb**")
    page.get_by_role("tab", name="00_start_here.ipynb").wait_for()
    page.locator(".jp-RenderedMarkdown h1", has_text="Start here").first.wait_for()
    root = {item["name"] for item in api(lab, "")["content"]}
    assert {"notebooks", "exercises", "solutions"} <= root
    assert "03_sampling.ipynb" in {item["name"] for item in api(lab, "exercises")["content"]}
    assert "03_sampling.ipynb" in {item["name"] for item in api(lab, "solutions")["content"]}
    # in the file browser: up to the course's root (the breadcrumb), then into exercises/
    page.locator(".jp-BreadCrumbs-home").click()
    page.locator(".jp-DirListing-itemText", has_text="solutions").first.wait_for()
    page.locator(".jp-DirListing-itemText", has_text="exercises").first.dblclick()
    page.locator(".jp-DirListing-itemText", has_text="03_sampling.ipynb").first.wait_for()


def widget_box(page, slider_label: str):
    """The LessonWidget (a VBox of rows plus an Output) that holds the slider named ``slider_label``."""
    label = page.locator(".widget-label", has_text=slider_label).first
    return label.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")


def figure_hash(box) -> str:
    """SHA-256 of the widget's figure as rendered (a screenshot of its image) and of its PNG data."""
    from playwright.sync_api import Error

    for _ in range(20):  # the image is replaced while it redraws: try again on a fresh one
        img = box.locator("img").first
        try:
            img.wait_for()
            src = img.get_attribute("src") or ""
            shot = img.screenshot()
        except Error:
            box.page.wait_for_timeout(250)
            continue
        assert src.startswith("data:image/png"), src[:40]
        return hashlib.sha256(shot).hexdigest() + hashlib.sha256(src.encode()).hexdigest()
    pytest.fail("the widget's figure never settled")


def wait_for_new_figure(page, box, old: str, what: str) -> str:
    for _ in range(60):  # a redraw takes 0.3-1.1 s here
        new = figure_hash(box)
        if new != old:
            return new
        page.wait_for_timeout(250)
    pytest.fail(f"the figure did not change after {what}")


def test_saved_widget_state_shows_the_widget_before_the_kernel_runs(lab, page):
    page.goto(token_url(lab, "lab/tree/notebooks/03_sampling.ipynb"))
    box = widget_box(page, "move x")
    box.wait_for()
    assert box.locator(".noUi-handle").count() >= 4 and box.locator("img").count() == 1
    assert page.get_by_text("Error displaying widget").count() == 0


@pytest.mark.parametrize("path, slider, button, first", WIDGETS, ids=[w[0].split("/")[1] for w in WIDGETS])
def test_widget_redraws_when_a_learner_moves_a_slider_and_presses_a_button(lab, page, path, slider, button, first):
    open_notebook(page, lab, path)
    run_all(page)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.first.inner_text()
    box = widget_box(page, slider)
    box.scroll_into_view_if_needed()
    before = figure_hash(box)
    if first is not None:  # e.g. show the deformable keys, so that "new offsets" has something to move
        label, value = first
        box.locator(".widget-dropdown", has_text=label).locator("select").select_option(value)
        before = wait_for_new_figure(page, box, before, f"choosing {value!r}")
    handle = box.locator(".widget-slider", has_text=slider).locator(".noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowRight")
    after_slider = wait_for_new_figure(page, box, before, f"moving the slider {slider!r}")
    box.get_by_role("button", name=button).click()
    wait_for_new_figure(page, box, after_slider, f"pressing {button!r}")


def test_an_untouched_exercise_check_tells_the_learner_what_to_do(lab, page):
    open_notebook(page, lab, "exercises/03_sampling.ipynb")
    run_all(page)  # stops at the first check cell: its part is not done yet
    message = page.locator(".jp-OutputArea-output", has_text="Part 1 is not done yet").first
    message.wait_for(state="attached")
    message.scroll_into_view_if_needed()
    message.wait_for(state="visible")  # on screen, as the learner sees it
    assert "replace `raise NotImplementedError()`" in message.text_content()
