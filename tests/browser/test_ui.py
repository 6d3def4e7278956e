"""The QoS web page in headless Chromium against a real controller process.

What a user does in the browser — look, add a service and a policy through
the forms, mistype an IP, modify, delete, switch QoS on and off — and each
time the REST service is asked whether it really happened.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import BrowserPage
from topologies.controller import ControllerProcess

pytestmark = pytest.mark.browser

SEED = {"name": "Enqueue 2:2 s1", "ip-src": "10.0.0.1", "protocol": "6", "ingress-port": "1",
        "sw": "00:00:00:00:00:00:00:01", "queue": "2", "enqueue-port": "2"}


def policies(controller: ControllerProcess) -> list[dict]:
    status, body = controller.request("GET", "/qos/policies")
    assert status == 200
    return body


def policy_row(bp: BrowserPage, name: str):
    return bp.page.locator("#policy-table tbody tr", has=bp.page.locator("th", has_text=name))


def fill_policy_form(bp: BrowserPage, values: dict[str, str]) -> None:
    form = bp.page.locator("#policy-form")
    for key, value in values.items():
        field = form.locator(f"[data-field='{key}']")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def test_page_loads_readable_offline_and_without_console_errors(browser_page: BrowserPage,
                                                                tmp_path: Path) -> None:
    bp, page = browser_page, browser_page.page
    bp.open_ui("/qos/ui")  # no trailing slash: redirected
    assert page.url == bp.base_url + "/qos/ui/"
    assert page.title() == "Quality of Service · qos-sdn"
    for title in ("Policies", "Live rates", "Services", "Queue profiles", "Switches and topology", "Paths"):
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page.locator("#status-text")).to_have_text("Disabled · 1 service · 0 policies · 0 switches")
    expect(page.get_by_role("switch", name="QoS enabled")).not_to_be_checked()
    expect(page.locator("#service-table tbody tr")).to_have_count(1)
    expect(page.locator("#service-table tbody")).to_contain_text("Best Effort")
    expect(page.locator("#policy-empty")).to_be_visible()
    expect(page.locator("#switch-empty")).to_be_visible()
    expect(page.locator("#connection")).to_contain_text("Live")
    page.wait_for_timeout(4500)  # two more polling rounds must stay clean too
    # Readable on a 1366x768 laptop: no sideways scrolling, the policy form on the first screens.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.locator("#policy-form").bounding_box()["y"] < 2 * 768
    page.screenshot(path=str(tmp_path / "qos-ui.png"), full_page=True)
    assert bp.unexpected_errors() == []
    assert bp.foreign_requests == []


def test_add_service_and_policy_through_the_forms(browser_page: BrowserPage,
                                                  controller: ControllerProcess, tmp_path: Path) -> None:
    bp, page = browser_page, browser_page.page
    bp.open_ui()
    # The service form with the keyboard only: type, Tab, type, Enter.
    page.locator("#sf-name").focus()
    page.keyboard.type("Gold")
    page.keyboard.press("Tab")
    page.keyboard.type("EF")
    page.keyboard.press("Enter")
    expect(page.locator("#service-form-message")).to_have_text('Service "Gold" added (DSCP 46).')
    expect(page.locator("#service-table tbody")).to_contain_text("Gold")
    expect(page.locator("#pf-service option", has_text="Gold")).to_have_count(1)

    fill_policy_form(bp, SEED)
    page.get_by_role("button", name="Add policy").click()
    expect(page.locator("#policy-form-message")).to_have_text('Policy "Enqueue 2:2 s1" added.')
    row = policy_row(bp, "Enqueue 2:2 s1")
    expect(row).to_contain_text("src 10.0.0.1")
    expect(row).to_contain_text("proto TCP (6)")
    expect(row).to_contain_text("queue 2 on port 2")
    expect(page.locator("#pf-name")).to_have_value("")  # the form is ready for the next one

    fill_policy_form(bp, {"name": "Mark web Gold", "ip-dst": "10.0.0.0/24", "protocol": "6", "dst-port": "80",
                          "service": "Gold", "priority": "40000"})
    page.locator("#pf-priority").press("Enter")
    expect(policy_row(bp, "Mark web Gold")).to_contain_text('mark "Gold" (DSCP 46)')
    expect(page.locator("#status-text")).to_contain_text("2 services · 2 policies")

    stored = {p["name"]: p for p in policies(controller)}
    assert set(stored) == {"Enqueue 2:2 s1", "Mark web Gold"}
    seed = stored["Enqueue 2:2 s1"]
    assert (seed["ip-src"], seed["protocol"], seed["ingress-port"], seed["sw"], seed["queue"],
            seed["enqueue-port"], seed["eth-type"]) == ("10.0.0.1", 6, 1, "00:00:00:00:00:00:00:01", 2, 2, 0x0800)
    mark = stored["Mark web Gold"]
    assert (mark["ip-dst"], mark["dst-port"], mark["service"], mark["priority"], mark["sw"]) == (
        "10.0.0.0/24", 80, "Gold", 40000, "all")
    # No switch is connected: the table says so instead of showing an empty cell.
    expect(policy_row(bp, "Mark web Gold")).to_contain_text("no matching switch connected")
    page.screenshot(path=str(tmp_path / "qos-ui-policies.png"), full_page=True)
    assert bp.unexpected_errors() == []


def test_bad_ip_shows_the_error_next_to_the_field(browser_page: BrowserPage, controller: ControllerProcess,
                                                  tmp_path: Path) -> None:
    bp, page = browser_page, browser_page.page
    bp.open_ui()
    fill_policy_form(bp, {**SEED, "ip-src": "10.0.0.256"})
    page.get_by_role("button", name="Add policy").click()
    error = page.locator("#pf-ip-src-err")
    expect(error).to_contain_text("10.0.0.256")
    ip_input = page.locator("#pf-ip-src")
    expect(ip_input).to_have_attribute("aria-invalid", "true")
    expect(ip_input).to_be_focused()
    # "Next to the field": in the same field box, and what the input's description points at.
    assert ip_input.get_attribute("aria-describedby") == "pf-ip-src-err"
    assert error.evaluate("el => el.closest('.field') === document.getElementById('pf-ip-src').closest('.field')")
    expect(error).to_have_attribute("aria-live", "polite")
    expect(page.locator("#pf-name-err")).to_have_text("")
    expect(page.locator("#policy-form-message")).to_have_text("Not saved: see the highlighted field.")
    page.screenshot(path=str(tmp_path / "qos-ui-error.png"))
    assert policies(controller) == []
    # Correcting the IP clears the error and stores the policy.
    ip_input.fill("10.0.0.1")
    ip_input.press("Enter")
    expect(policy_row(bp, SEED["name"])).to_have_count(1)
    expect(error).to_have_text("")
    expect(ip_input).not_to_have_attribute("aria-invalid", "true")
    assert [p["ip-src"] for p in policies(controller)] == ["10.0.0.1"]
    assert bp.unexpected_errors(("/qos/policies", 400)) == []


def test_modify_fills_the_form_from_the_row_and_puts(browser_page: BrowserPage,
                                                     controller: ControllerProcess) -> None:
    bp, page = browser_page, browser_page.page
    # vlan-id is not in the form: a modify must keep it.
    assert controller.request("POST", "/qos/policies", {**SEED, "vlan-id": 10})[0] == 201
    bp.open_ui()
    page.get_by_role("button", name="Modify policy Enqueue 2:2 s1").click()
    expect(page.locator("#policy-form-title")).to_have_text('Modify policy "Enqueue 2:2 s1"')
    expect(page.locator("#pf-ip-src")).to_have_value("10.0.0.1")
    expect(page.locator("#pf-queue")).to_have_value("2")
    expect(page.locator("#pf-sw")).to_have_value("00:00:00:00:00:00:00:01")
    expect(page.locator("#pf-name")).to_be_focused()
    page.locator("#pf-queue").fill("1")
    page.locator("#pf-priority").fill("33000")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#policy-form-message")).to_have_text('Policy "Enqueue 2:2 s1" saved.')
    expect(policy_row(bp, "Enqueue 2:2 s1")).to_contain_text("queue 1 on port 2")
    expect(page.locator("#policy-form-title")).to_have_text("Add a policy")
    [stored] = policies(controller)
    assert (stored["queue"], stored["priority"], stored["vlan-id"], stored["ip-src"], stored["id"]) == (
        1, 33000, 10, "10.0.0.1", 1)
    assert bp.unexpected_errors() == []


def test_delete_policy_and_service(browser_page: BrowserPage, controller: ControllerProcess) -> None:
    bp, page = browser_page, browser_page.page
    assert controller.request("POST", "/qos/services", {"name": "Gold", "dscp": 46})[0] == 201
    assert controller.request("POST", "/qos/policies", SEED)[0] == 201
    bp.open_ui()
    row = policy_row(bp, SEED["name"])
    expect(row).to_have_count(1)
    delete = page.get_by_role("button", name="Delete policy Enqueue 2:2 s1")
    delete.click()  # the first click only arms the button
    confirm = page.get_by_role("button", name="Confirm: Delete policy Enqueue 2:2 s1")
    expect(confirm).to_have_text("Confirm delete")
    assert len(policies(controller)) == 1
    confirm.click()
    expect(row).to_have_count(0)
    expect(page.locator("#policy-form-message")).to_have_text('Policy "Enqueue 2:2 s1" deleted.')
    assert policies(controller) == []
    # The service, with the keyboard: Enter twice on its button.
    page.get_by_role("button", name="Delete service Gold").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Confirm: Delete service Gold").press("Enter")
    expect(page.locator("#service-table tbody")).not_to_contain_text("Gold")
    assert [s["name"] for s in controller.request("GET", "/qos/services")[1]] == ["Best Effort"]
    assert bp.unexpected_errors() == []


def test_enable_disable_switch(browser_page: BrowserPage, controller: ControllerProcess) -> None:
    bp, page = browser_page, browser_page.page
    bp.open_ui()
    toggle = page.get_by_role("switch", name="QoS enabled")
    expect(toggle).to_be_enabled()
    toggle.click()
    expect(page.locator("#status-text")).to_contain_text("Enabled")
    expect(toggle).to_be_checked()
    assert controller.request("GET", "/qos/status")[1]["enabled"] is True
    # Keyboard: Space on the focused switch turns it off again.
    toggle.focus()
    page.keyboard.press("Space")
    expect(page.locator("#status-text")).to_contain_text("Disabled")
    expect(toggle).not_to_be_checked()
    assert controller.request("GET", "/qos/status")[1]["enabled"] is False
    # A change made elsewhere (the CLI) shows up on the page within a polling round.
    controller.request("POST", "/qos/enable")
    expect(toggle).to_be_checked(timeout=5000)
    assert bp.unexpected_errors() == []


def test_optional_sections_follow_the_api_document(browser_page: BrowserPage,
                                                   controller: ControllerProcess) -> None:
    """Queues, paths, topology and statistics appear when the controller offers them, else say so."""
    bp, page = browser_page, browser_page.page
    assert controller.request("POST", "/qos/policies", SEED)[0] == 201
    paths = controller.request("GET", "/qos/openapi.json")[1]["paths"]
    bp.open_ui()
    sections = {"/qos/queues": ("#queue-profiles", "Queue profiles"),
                "/qos/stats/queues": ("#queue-stats", "Queue statistics"),
                "/qos/stats/meters": ("#meter-stats", "Meter statistics"),
                "/qos/paths": ("#path-list", "Paths"),
                "/qos/topology": ("#topology", "Topology")}
    for path, (selector, what) in sections.items():
        box = page.locator(selector)
        if path in paths:
            expect(box).not_to_contain_text("not available")
            expect(box).not_to_be_empty()
        else:
            expect(box).to_have_text(f"{what}: not available on this controller.")
    if "/qos/stats/policies" in paths:
        chart = page.locator("#charts figure[data-policy='Enqueue 2:2 s1']")
        expect(chart.locator(".plot")).to_have_attribute("aria-label", "Enqueue 2:2 s1: measured 0 bit/s, "
                                                         "max-rate none")
        # uPlot drew it: its canvas, and the two lines (measured, max-rate) in its legend
        width = chart.locator(".plot canvas").first.evaluate("c => c.width")
        assert width > 300
        expect(chart.locator(".u-legend .u-series .u-label")).to_have_text(["Time", "measured", "max-rate"])
    else:
        expect(page.locator("#rates-note")).to_have_text("Policy statistics: not available on this controller.")
    assert bp.unexpected_errors() == []


def test_static_flow_entries_are_listed_with_their_state_and_deleted(browser_page: BrowserPage,
                                                                    controller: ControllerProcess) -> None:
    """circuitpusher.py's forward entry, pushed through Floodlight's static flow pusher, on the page."""
    bp, page = browser_page, browser_page.page
    entry = {"switch": "00:00:00:00:00:00:00:01", "name": "00:00:00:00:00:00:00:01.h1h4.f", "src-ip": "10.0.0.1",
             "dst-ip": "10.0.0.4", "ether-type": "0x800", "cookie": "0", "priority": "32768", "ingress-port": "1",
             "active": "true", "actions": "output=2"}
    assert controller.request("POST", "/wm/staticflowentrypusher/json", entry) == (200, {"status": "Entry pushed"})
    bp.open_ui()
    table = page.locator("#static-flow-list")
    expect(table).to_contain_text("00:00:00:00:00:00:00:01.h1h4.f")
    expect(table).to_contain_text("ingress-port 1, ether-type 0x0800, src-ip 10.0.0.1, dst-ip 10.0.0.4")
    expect(table).to_contain_text("output=2")
    expect(table).to_contain_text("not-installed: switch 00:00:00:00:00:00:00:01 is not connected")
    page.get_by_role("button", name=f"Delete static flow entry {entry['name']}").click()
    page.get_by_role("button", name=f"Confirm: Delete static flow entry {entry['name']}").click()
    expect(table).to_have_text("No static flow entries.")
    assert controller.request("GET", "/qos/static-flows")[1] == []
    assert bp.unexpected_errors() == []
