"""The study browser over a real library: search, open, delete."""

from __future__ import annotations

from dataclasses import replace

from workstation.pacs import find_studies, import_paths, open_database
from workstation.testing.factories import SeriesSpec, write_series
from workstation.ui.browser import StudyBrowser


def test_browser_lists_filters_and_opens(qtbot, home, tmp_path) -> None:
    write_series(tmp_path / "a", replace(SeriesSpec(), patient_name="Doe^Jane", patient_id="P1"))
    write_series(
        tmp_path / "b",
        replace(
            SeriesSpec(),
            patient_name="Roe^Rick",
            patient_id="P2",
            modality="MR",
            rescale_slope=None,
            rescale_intercept=None,
        ),
    )
    with open_database() as db:
        import_paths(db, [tmp_path])
        browser = StudyBrowser(lambda **filters: find_studies(db, **filters))
        qtbot.addWidget(browser)
        browser.refresh()
        assert browser.tree.topLevelItemCount() == 2
        browser.text.setText("jane")
        assert browser.tree.topLevelItemCount() == 1
        study = browser.tree.topLevelItem(0)
        assert study.text(1) == "P1"
        assert not study.child(0).icon(0).isNull()  # the series thumbnail
        browser.text.setText("")
        browser.modality.setCurrentText("MR")
        assert browser.tree.topLevelItemCount() == 1
        with qtbot.waitSignal(browser.open_series) as opened:
            browser.tree.itemDoubleClicked.emit(browser.tree.topLevelItem(0), 0)
        assert len(opened.args[0]) == 1
