// The sign-in screen. It collects what the Rust side needs to sign in, hands it over
// in one call, and empties the password field as soon as the password is handed over
// (and again when the call returns, whatever the outcome). It never sees a token:
// success is just "the call resolved".

import * as ipc from "./ipc.js";

export class SignInForm {
  /**
   * @param {object} els { form, server, backend, profileFile, username, password,
   *                       allowInsecure, submit, demo, browser, browserWaiting,
   *                       browserCancel, error, reason }
   * @param {object} hooks { onSignedIn(): void } called after sign_in or try_demo resolves
   */
  constructor(els, { onSignedIn }) {
    Object.assign(this, els);
    this.onSignedIn = onSignedIn;
    this.pending = false;
    this.submitLabel = this.submit.textContent;
    this.demoLabel = this.demo.textContent;
    this.touched = new Set(); // fields the user edited: settings no longer overwrite them

    for (const field of [this.server, this.backend, this.allowInsecure]) {
      field.addEventListener("input", () => this.touched.add(field));
    }
    this.chosenBackend = ""; // what the select showed before "Profile file…" was picked
    this.backend.addEventListener("change", () => this.onBackendChange());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.signIn();
    });
    this.demo.addEventListener("click", () => this.tryDemo());
    this.browser?.addEventListener("click", () => this.signInWithBrowser());
    this.browserCancel?.addEventListener("click", () => ipc.cancelBrowserSignIn().catch(() => {}));
    this.browserLabel = this.browser?.textContent;
  }

  /**
   * "Sign in with browser": the Rust side opens the system browser at the identity
   * provider and waits for it to come back; the page only shows that it waits, with
   * Cancel. No credential passes through the page.
   */
  async signInWithBrowser() {
    if (this.pending) return;
    const request = {
      server: this.server.value.trim() || null,
      backend: this.backend.value || null,
      allowInsecure: this.allowInsecure.checked,
    };
    this.setPending(this.browser, "Signing in…");
    this.browserWaiting.hidden = false;
    this.browserCancel.focus();
    let failed = null;
    try {
      await ipc.signInWithBrowser(request);
    } catch (error) {
      failed = error;
    } finally {
      this.browserWaiting.hidden = true;
      this.setPending(null);
    }
    if (failed) return this.fail(failed.message, this.browser);
    this.succeeded();
  }

  /**
   * The backends to offer: kith-core's presets (the default first), then the native
   * file dialog. Called with get_view's `presets`; keeps the current choice.
   */
  setPresets(presets) {
    if (!presets?.length || this.backend.options.length) return;
    for (const preset of presets) {
      this.backend.add(new Option(preset.label, preset.name));
    }
    this.backend.add(new Option("Profile file…", ipc.FILE_BACKEND));
    this.chosenBackend = this.backend.value;
  }

  /** Prefills server, backend and the insecure flag from saved settings. */
  prefill(settings) {
    if (!settings) return;
    const set = (field, apply) => {
      if (!this.touched.has(field)) apply();
    };
    set(this.server, () => (this.server.value = settings.server ?? ""));
    set(this.backend, () => {
      if (settings.profile_path) {
        this.backend.value = ipc.FILE_BACKEND;
        this.showProfileFile(settings.profile_path);
      } else if (settings.preset) {
        this.backend.value = settings.preset;
      }
      // An unknown preset selects nothing: fall back to the default (first).
      if (this.backend.selectedIndex < 0) this.backend.selectedIndex = 0;
      this.chosenBackend = this.backend.value;
    });
    set(this.allowInsecure, () => (this.allowInsecure.checked = Boolean(settings.allow_insecure)));
  }

  /** "Profile file…" opens the native dialog; cancelling it goes back to the last choice. */
  async onBackendChange() {
    if (this.backend.value !== ipc.FILE_BACKEND) {
      this.chosenBackend = this.backend.value;
      this.showProfileFile(null);
      return;
    }
    let path = null;
    try {
      path = await ipc.chooseProfileFile();
    } catch (error) {
      this.showError(error.message);
    }
    if (path) {
      this.chosenBackend = ipc.FILE_BACKEND;
      this.showProfileFile(path);
    } else if (this.chosenBackend !== ipc.FILE_BACKEND) {
      this.backend.value = this.chosenBackend;
    }
  }

  showProfileFile(path) {
    this.profileFile.textContent = path ? `Profile: ${path}` : "";
    this.profileFile.hidden = !path;
  }

  /** The line above the form saying why the last session ended ("" hides it). */
  setReason(text) {
    this.reason.textContent = text;
    this.reason.hidden = text === "";
  }

  focusFirst() {
    (this.username.value.trim() === "" ? this.username : this.password).focus();
  }

  async signIn() {
    if (this.pending) return;
    const username = this.username.value.trim();
    if (username === "") return this.fail("Enter your username.", this.username);
    if (this.password.value === "") return this.fail("Enter your password.", this.password);

    let request = {
      server: this.server.value.trim() || null,
      backend: this.backend.value || null,
      username,
      password: this.password.value,
      allowInsecure: this.allowInsecure.checked,
    };
    // The field is emptied as soon as the password is handed over, not only when the
    // call returns: the session event that shows the friends list can come first.
    this.password.value = "";
    this.setPending(this.submit, "Signing in…");
    // Marks for the sign-in timing that the end-to-end test reports (see friends.js).
    performance.mark("kith:sign-in-submitted");
    let failed = null;
    try {
      await ipc.signIn(request);
      performance.mark("kith:sign-in-answered");
    } catch (error) {
      failed = error;
    } finally {
      request = null;
      this.password.value = ""; // success or failure, nothing of it stays on the page
      this.setPending(null);
    }
    if (failed) return this.fail(failed.message, this.password);
    this.succeeded();
  }

  async tryDemo() {
    if (this.pending) return;
    this.setPending(this.demo, "Starting the demo…");
    let failed = null;
    try {
      await ipc.tryDemo();
    } catch (error) {
      failed = error;
    } finally {
      this.password.value = "";
      this.setPending(null);
    }
    if (failed) return this.fail(failed.message, this.demo);
    this.succeeded();
  }

  succeeded() {
    this.showError("");
    this.setReason("");
    this.onSignedIn();
  }

  fail(message, focus) {
    this.showError(message);
    focus?.focus();
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = message === "";
  }

  /** Marks one button as working (with its busy label) and blocks both; null restores. */
  setPending(button, label) {
    this.pending = button !== null;
    this.form.setAttribute("aria-busy", String(this.pending));
    this.submit.disabled = this.pending;
    this.demo.disabled = this.pending;
    this.submit.textContent = button === this.submit ? label : this.submitLabel;
    this.demo.textContent = button === this.demo ? label : this.demoLabel;
    if (this.browser) {
      this.browser.disabled = this.pending;
      this.browser.textContent = button === this.browser ? label : this.browserLabel;
    }
    if (this.pending) this.showError("");
  }
}
