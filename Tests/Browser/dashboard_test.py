#!/usr/bin/env python3
"""The dashboard in a real headless browser (Debian's chromium through chromium-driver and
Selenium), against a real `orrery serve` on loopback that this script starts and stops.

    python dashboard_test.py [--binary .build/debug/orrery] [--screenshots DIR]

Scenarios: sign in; create a task with an invalid cron expression and see the error next to
the field; fix it; run it now and watch the run reach `complete` without a reload; watch a
shell task's log lines appear as it writes them; cancel a sleeping run; a viewer sees no
write buttons and a forged write without the CSRF token is refused; filters survive a
reload; no console errors on any page. Screenshots of every page, light and dark (and the
overview at 360 px), go to the folder it prints. Ends with "N passed, N failed".
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ADMIN = "orr_browser_admin_token_for_tests_only_0123456789"


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="orrery-browser-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, ORRERY_ADMIN_TOKEN=ADMIN)
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--data-dir", os.path.join(self.dir, "data")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=self.dir)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1)
                return
            except Exception:
                if self.process.poll() is not None:
                    raise RuntimeError("orrery serve exited; see " + self.log.name)
                time.sleep(0.1)
        raise RuntimeError("orrery serve did not become ready")

    def api(self, method, path, body=None, token=ADMIN):
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Run:
    def __init__(self, server, shots):
        self.s, self.shots = server, shots
        self.d = browser()
        self.wait = WebDriverWait(self.d, 20, ignored_exceptions=[StaleElementReferenceException])
        self.passed, self.failed = [], []
        self.ids = {}

    # -- helpers --
    def go(self, path):
        self.d.get(self.s.base + path)

    def css(self, selector):
        return self.wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def sign_in(self, token):
        self.d.delete_all_cookies()
        self.go("/")
        self.css("#token").send_keys(token)
        self.d.find_element(By.ID, "sign-in").click()
        self.wait.until(lambda d: "/sign-in" not in d.current_url)

    def fetch(self, method, path, csrf):
        script = """
            const done = arguments[arguments.length - 1];
            const headers = {};
            if (arguments[2]) headers['X-CSRF-Token'] = document.querySelector('meta[name=csrf-token]').content;
            fetch(arguments[1], {method: arguments[0], headers, credentials: 'same-origin'})
              .then(r => r.text().then(t => done([r.status, t])));
        """
        return self.d.execute_async_script(script, method, path, csrf)

    def shoot(self, name):
        for scheme in ("light", "dark"):
            self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
            time.sleep(0.2)
            self.d.save_screenshot(os.path.join(self.shots, f"{name}-{scheme}.png"))
        self.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    def scenario(self, name, body):
        start = time.time()
        try:
            body()
            self.passed.append(name)
            print(f"PASS {name} ({time.time() - start:.1f} s)", flush=True)
        except Exception:
            self.failed.append(name)
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
            try:
                self.d.save_screenshot(os.path.join(self.shots, f"FAILED-{name}.png"))
            except Exception:
                pass

    # -- scenarios --
    def sign_in_works(self):
        self.go("/runs")
        self.wait.until(lambda d: "/sign-in" in d.current_url)
        self.shoot("sign-in")
        self.css("#token").send_keys("orr_not_a_token")
        self.d.find_element(By.ID, "sign-in").click()
        assert "not valid" in self.css("#sign-in-error").text
        self.css("#token").send_keys(ADMIN)
        self.d.find_element(By.ID, "sign-in").click()
        self.wait.until(lambda d: d.current_url.endswith("/runs"))
        cookie = self.d.get_cookie("orrery_session")
        assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie

    def invalid_cron_then_fixed(self):
        self.go("/tasks/new")
        self.css("#tf-name").send_keys("browser-cron")
        Select(self.d.find_element(By.ID, "tf-module")).select_by_value("noop")
        Select(self.d.find_element(By.ID, "tf-type")).select_by_value("cron")
        expression = self.d.find_element(By.ID, "tf-expression")
        expression.send_keys("61 * * * *")
        self.d.find_element(By.ID, "create-task").click()
        error = self.css('[data-field="schedule.expression"] .field-error')
        assert error.is_displayed() and "61" in error.text, error.text
        assert expression.get_attribute("aria-invalid") == "true"
        assert expression.get_attribute("aria-describedby") == error.get_attribute("id")
        self.shoot("task-new-error")
        expression.clear()
        expression.send_keys("*/5 * * * *")
        self.d.find_element(By.ID, "create-task").click()
        self.wait.until(lambda d: "/tasks/" in d.current_url and not d.current_url.endswith("/new"))
        assert self.css("h1").text.startswith("browser-cron")
        assert "5 minutes" in self.css("#schedule-summary").text or "5" in self.css("#schedule-summary").text
        assert len(self.d.find_elements(By.CSS_SELECTOR, "#fires tbody tr")) == 10
        self.ids["cron_task"] = self.d.current_url.rsplit("/", 1)[1]

    def run_now_reaches_complete(self):
        self.go("/tasks/" + self.ids["cron_task"])
        self.css("#run-task")
        self.d.execute_script("window.__notReloaded = true")
        self.d.find_element(By.ID, "run-task").click()
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-append] tr[data-status="complete"]'))
        assert self.d.execute_script("return window.__notReloaded === true"), "the page reloaded"
        self.shoot("task")

    def shell_log_tails(self):
        task = self.s.api("POST", "/v1/tasks", {
            "name": "browser-shell", "module": "shell",
            "params": {"command": ["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.7; done"]},
            "schedule": {"type": "once", "at": "2099-01-01T00:00:00Z"}})
        run = self.s.api("POST", f"/v1/tasks/{task['id']}/run")
        self.go("/runs/" + run["id"])
        self.d.execute_script("window.__notReloaded = true")
        counts = set()
        deadline = time.time() + 20
        while time.time() < deadline:
            lines = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#log .msg")]
            counts.add(len(lines))
            if "line-6" in lines:
                break
            time.sleep(0.2)
        lines = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#log .msg")]
        assert lines == [f"line-{i}" for i in range(1, 7)], lines
        # Seen growing: lines arrived one after another, not in one piece after the end.
        assert len([c for c in counts if 0 < c < 6]) >= 2, counts
        self.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "complete")
        assert self.d.execute_script("return window.__notReloaded === true")
        self.ids["shell_run"] = run["id"]
        self.shoot("run")

    def cancel_sleeping_run(self):
        task = self.s.api("POST", "/v1/tasks", {
            "name": "browser-sleep", "module": "sleep", "params": {"seconds": 120},
            "schedule": {"type": "once", "at": "2099-01-01T00:00:00Z"}})
        run = self.s.api("POST", f"/v1/tasks/{task['id']}/run")
        self.go("/runs/" + run["id"])
        self.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "active")
        self.d.find_element(By.ID, "cancel-run").click()
        self.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#run-status .badge").get_attribute("data-status") == "canceled")
        assert not self.d.find_element(By.ID, "cancel-run").is_displayed()
        assert self.s.api("GET", f"/v1/runs/{run['id']}")["status"] == "canceled"

    def viewer_and_csrf(self):
        task_id = self.ids["cron_task"]
        # A forged write from a signed-in admin's browser, without the CSRF token: refused.
        self.go("/tasks")
        status, body = self.fetch("POST", f"/v1/tasks/{task_id}/pause", csrf=False)
        assert status == 403 and json.loads(body)["code"] == "csrf", (status, body)
        assert self.s.api("GET", f"/v1/tasks/{task_id}")["enabled"] is True
        status, _ = self.fetch("POST", f"/v1/tasks/{task_id}/pause", csrf=True)
        assert status == 200, status
        status, _ = self.fetch("POST", f"/v1/tasks/{task_id}/resume", csrf=True)
        assert status == 200, status
        viewer = self.s.api("POST", "/v1/tokens", {"role": "viewer", "name": "browser-viewer"})["token"]
        self.sign_in(viewer)
        self.go("/tasks")
        self.css("#tasks-table")
        for selector in ("#new-task", "[data-task-action]", "[data-bulk]", "input.select"):
            assert not self.d.find_elements(By.CSS_SELECTOR, selector), selector
        self.go("/tasks/" + task_id)
        self.css("#schedule-summary")
        for selector in ("#run-task", "#delete-task", "#task-edit"):
            assert not self.d.find_elements(By.CSS_SELECTOR, selector), selector
        self.go("/runs/" + self.ids["shell_run"])
        self.css("#log")
        assert not self.d.find_elements(By.CSS_SELECTOR, "#cancel-run, #dismiss-run")
        # The server refuses the viewer's write even with the CSRF token.
        status, body = self.fetch("POST", f"/v1/tasks/{task_id}/run", csrf=True)
        assert status == 403 and json.loads(body)["code"] == "forbidden", (status, body)
        self.go("/admin")
        assert "403" in self.css("h1").text
        self.sign_in(ADMIN)

    def filters_survive_reload(self):
        self.go("/runs")
        for status in ("complete", "canceled"):
            self.css(f'input[name=status][value={status}]').click()
        Select(self.d.find_element(By.ID, "f-trigger")).select_by_value("manual")
        self.d.find_element(By.ID, "apply-filters").click()
        self.wait.until(lambda d: "status=complete" in d.current_url and "trigger=manual" in d.current_url)
        self.d.refresh()
        assert self.css("input[name=status][value=complete]").is_selected()
        assert self.css("input[name=status][value=canceled]").is_selected()
        assert not self.css("input[name=status][value=failed]").is_selected()
        assert Select(self.d.find_element(By.ID, "f-trigger")).first_selected_option.get_attribute("value") == "manual"
        statuses = {e.get_attribute("data-status") for e in self.d.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")}
        assert statuses and statuses <= {"complete", "canceled"}, statuses
        self.shoot("runs")
        self.go("/tasks?name=browser&type=cron")
        self.d.refresh()
        assert self.css("#f-name").get_attribute("value") == "browser"
        names = [e.text for e in self.d.find_elements(By.CSS_SELECTOR, "#tasks-table tbody td:nth-child(2) a")]
        assert names == ["browser-cron"], names

    def no_console_errors(self):
        pages = ["/", "/tasks", "/runs", "/tasks/new", "/modules", "/admin",
                 "/tasks/" + self.ids["cron_task"], "/runs/" + self.ids["shell_run"]]
        self.d.get_log("browser")  # drop what earlier scenarios logged (their expected 4xx)
        problems = []
        for path in pages:
            self.go(path)
            self.css("main")
            time.sleep(0.6)
            problems += [(path, e["message"]) for e in self.d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert not problems, problems
        shots = {"/": "overview", "/tasks": "tasks", "/modules": "modules", "/admin": "admin"}
        for path, name in shots.items():
            self.go(path)
            self.css("main")
            self.shoot(name)
        self.d.set_window_size(360, 800)
        self.go("/")
        self.css("main")
        width = self.d.execute_script("return document.documentElement.scrollWidth")
        self.shoot("overview-360px")
        self.d.set_window_size(1280, 900)
        assert width <= 360, f"the overview is {width} px wide at 360 px"
        # German by the toggle, from then on by its cookie.
        self.go("/modules")
        self.css("#lang-toggle").click()
        self.wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "de")
        assert "Wartet" in self.css("#module-sleep .module-description").text
        self.css("#lang-toggle").click()
        self.wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")


def main():
    parser = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--binary", default=os.environ.get("ORRERY_BINARY", os.path.join(root, ".build/debug/orrery")))
    parser.add_argument("--screenshots", default=os.environ.get("ORRERY_SCREENSHOTS") or tempfile.mkdtemp(prefix="orrery-screenshots-"))
    args = parser.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)
    started = time.time()
    server = Server(args.binary)
    run = None
    try:
        run = Run(server, args.screenshots)
        run.scenario("sign in", run.sign_in_works)
        run.scenario("invalid cron shown next to its field, then fixed", run.invalid_cron_then_fixed)
        run.scenario("run now reaches complete without a reload", run.run_now_reaches_complete)
        run.scenario("a shell task's log lines appear as written", run.shell_log_tails)
        run.scenario("cancel a sleeping run", run.cancel_sleeping_run)
        run.scenario("viewer sees no write buttons; forged write refused", run.viewer_and_csrf)
        run.scenario("filters survive a reload", run.filters_survive_reload)
        run.scenario("no console errors on any page; screenshots", run.no_console_errors)
    finally:
        if run:
            run.d.quit()
        server.stop()
    print(f"screenshots: {args.screenshots}")
    print(f"browser test took {time.time() - started:.1f} s")
    print(f"{len(run.passed)} passed, {len(run.failed)} failed")
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
