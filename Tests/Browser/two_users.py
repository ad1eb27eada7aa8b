"""Two people in two real browsers (Debian's Chromium, headless, through chromedriver and Selenium).

User A registers in the web client, creates a private room and adds B; B (an account made beforehand, as an invited
colleague would have) logs in and sees the room; A sends a message and B sees it arrive live; B reacts and A sees the
reaction. Screenshots of both windows are saved in the artifacts directory at the end, and on failure. The browser
console must stay free of errors (a Content-Security-Policy violation shows up there).

Usage: two_users.py BASE_URL ARTIFACTS_DIR
"""

import json
import os
import secrets
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

BASE, ARTIFACTS = sys.argv[1].rstrip("/"), sys.argv[2]
WAIT = 30  # seconds for a condition to become true; waited on, never slept


def browser(name):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     f"--user-data-dir={tempfile.mkdtemp(prefix=f'mb-browser-{name}-')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.name_for_artifacts = name
    return driver


def register_by_api(username, password):
    body = json.dumps({"username": username, "email": f"{username}@example.com", "password": password}).encode()
    request = urllib.request.Request(f"{BASE}/api/v1/auth/register", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 201, response.status


def until(driver, what, condition):
    """Waits until condition(driver) is truthy and returns it; a stale element is retried, a timeout names `what`."""
    def check(d):
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False
    try:
        return WebDriverWait(driver, WAIT).until(check)
    except TimeoutException:
        raise AssertionError(f"{driver.name_for_artifacts}: timed out waiting for {what}") from None


def visible(driver, selector):
    return until(driver, selector, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()), None))


def fill(driver, selector, text):
    field = visible(driver, selector)
    field.clear()
    field.send_keys(text)


def room_button(driver, name):
    return until(driver, f"room {name} in the room list", lambda d: next(
        (b for b in d.find_elements(By.CSS_SELECTOR, "#room-list li.room button.room-open") if name in b.text), None))


def message_with(driver, text):
    return until(driver, f"message {text!r}", lambda d: next(
        (m for m in d.find_elements(By.CSS_SELECTOR, "#messages li.message")
         if any(text == c.text.strip() for c in m.find_elements(By.CSS_SELECTOR, ".content"))), None))


def sign_in_done(driver, username):
    visible(driver, "#app")
    until(driver, "#current-user", lambda d: username in d.find_element(By.ID, "current-user").text)
    until(driver, "the socket to connect", lambda d: "connected" in d.find_element(By.ID, "connection-status").text.lower()
          and "reconnect" not in d.find_element(By.ID, "connection-status").text.lower())


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    suffix = secrets.token_hex(3)
    user_a, user_b, password = f"alice{suffix}", f"bob{suffix}", "correct horse battery"
    room = f"launch-{suffix}"
    register_by_api(user_b, password)
    a, b = browser("a"), browser("b")
    try:
        # A registers through the page, creates a private room and adds B.
        a.get(BASE + "/")
        fill(a, "#register-username", user_a)
        fill(a, "#register-email", f"{user_a}@example.com")
        fill(a, "#register-password", password)
        visible(a, "#register-submit").click()
        sign_in_done(a, user_a)
        fill(a, "#new-room-name", room)
        visible(a, "#new-room-visibility").send_keys("private")
        visible(a, "#new-room-submit").click()
        room_button(a, room).click()
        until(a, "the room's title", lambda d: room in d.find_element(By.ID, "room-title").text)
        fill(a, "#add-member-username", user_b)
        visible(a, "#add-member-submit").click()

        # B logs in and sees the room (added while B was away), and opens it.
        b.get(BASE + "/")
        fill(b, "#login-username", user_b)
        fill(b, "#login-password", password)
        visible(b, "#login-submit").click()
        sign_in_done(b, user_b)
        room_button(b, room).click()
        until(b, "the room's title", lambda d: room in d.find_element(By.ID, "room-title").text)

        # A sends; B sees it arrive without reloading.
        text = f"hello from {user_a}"
        fill(a, "#message-input", text)
        a.find_element(By.ID, "message-input").send_keys(Keys.ENTER)
        message_with(a, text)
        incoming = message_with(b, text)
        message_id = incoming.get_attribute("data-message-id")
        assert message_id and message_id.isdigit(), message_id
        # A is online, as B sees it: the author's presence dot on the message.
        until(b, "A shown online", lambda d: d.find_elements(
            By.CSS_SELECTOR, f'#messages li.message[data-message-id="{message_id}"] .presence-dot.online'))

        # B reacts; A sees the reaction with its count.
        incoming.find_element(By.CSS_SELECTOR, ".react-button").click()
        visible(b, '.emoji-choice[data-emoji="🎉"]').click()
        selector = f'#messages li.message[data-message-id="{message_id}"] .reaction[data-emoji="🎉"] .count'
        until(a, "B's reaction on A's message", lambda d: any(e.text.strip() == "1" for e in d.find_elements(By.CSS_SELECTOR, selector)))
        until(b, "B's own reaction shown", lambda d: any(e.text.strip() == "1" for e in d.find_elements(By.CSS_SELECTOR, selector)))

        for driver in (a, b):
            errors = [e for e in console_errors(driver) if "favicon" not in e["message"]]
            assert not errors, f"{driver.name_for_artifacts}: browser console errors: {errors}"
        print(f"browser: two users, one room, a live message and a live reaction ({room}, message {message_id})")
    finally:
        for driver in (a, b):
            path = os.path.join(ARTIFACTS, f"user-{driver.name_for_artifacts}.png")
            try:
                driver.save_screenshot(path)
                print(f"browser: screenshot {path}")
            except Exception as error:  # a dead browser must not hide the test's own failure
                print(f"browser: no screenshot of {driver.name_for_artifacts}: {error}", file=sys.stderr)
        # Only after both screenshots: A's window closing would show A offline in B's.
        for driver in (a, b):
            driver.quit()


if __name__ == "__main__":
    main()
