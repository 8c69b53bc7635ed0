import { expect, test } from "@playwright/test";
import { TaskflowServer } from "./server";
import {
  createTaskViaApi,
  listViaApi,
  openDashboard,
  screenshot,
  signedInContext,
  signUpViaApi,
  taskItem,
  taskItems,
  uniqueEmail,
} from "./helpers";

let server: TaskflowServer;

test.beforeAll(async () => {
  server = await TaskflowServer.start("dashboard");
});

test.afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

test("sign up, create, edit, complete, delete with undo, reload, sign out and in", async ({ page }) => {
  const email = uniqueEmail("ui");
  const password = "a long enough secret";

  await page.goto(server.url("/"));
  await expect(page).toHaveURL(/\/signin\/$/);
  await page.getByRole("link", { name: /create an account|sign up/i }).click();
  await expect(page).toHaveURL(/\/signup\/$/);
  await page.getByLabel("Name").fill("Grace Hopper");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await screenshot(page, "sign-up");
  await page.getByRole("button", { name: "Create account" }).click();

  await expect(page).toHaveURL(/\/dashboard\/$/);
  await expect(page.getByText("No tasks yet")).toBeVisible();
  await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", "open");
  await screenshot(page, "dashboard-empty");

  // Create, with the details.
  await page.getByLabel("New task title").fill("Write the quarterly report");
  await page.getByRole("button", { name: "Add task" }).click();
  await expect(taskItem(page, "Write the quarterly report")).toHaveCount(1);
  await expect(page.getByText("No tasks yet")).toHaveCount(0);

  // Edit: title and priority.
  await page.getByRole("button", { name: 'Edit "Write the quarterly report"' }).click();
  const dialog = page.getByRole("dialog", { name: "Edit task" });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Title").fill("Write the annual report");
  await dialog.getByLabel("Priority").selectOption("high");
  await dialog.getByLabel("Tags").fill("work, finance");
  await screenshot(page, "edit-dialog");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toHaveCount(0);
  const item = taskItem(page, "Write the annual report");
  await expect(item).toHaveCount(1);
  await expect(item).toContainText("high");
  await expect(item).toContainText("finance");

  // Complete.
  const box = page.getByRole("checkbox", { name: 'Complete "Write the annual report"' });
  await box.check();
  await expect(box).toBeChecked();
  const session = JSON.parse((await page.evaluate(() => localStorage.getItem("taskflow.session"))) ?? "{}");
  const account = { token: session.token, user: session.user } as Parameters<typeof listViaApi>[1];
  await expect
    .poll(async () => (await listViaApi(server, account)).map((t) => [t.title, t.completed, t.priority]))
    .toEqual([["Write the annual report", true, "high"]]);
  await screenshot(page, "dashboard-tasks");

  // A reload keeps the session and the list.
  await page.reload();
  await expect(taskItem(page, "Write the annual report")).toHaveCount(1);
  await expect(page.getByRole("checkbox", { name: 'Complete "Write the annual report"' })).toBeChecked();

  // Delete, undo, delete again.
  await page.getByRole("button", { name: 'Delete "Write the annual report"' }).click();
  await expect(taskItems(page)).toHaveCount(0);
  await page.getByRole("button", { name: "Undo" }).click();
  await expect(taskItem(page, "Write the annual report")).toHaveCount(1);
  const restored = await listViaApi(server, account);
  expect(restored.map((t) => [t.title, t.completed, t.priority, t.tags])).toEqual([
    ["Write the annual report", true, "high", ["work", "finance"]],
  ]);
  await page.getByRole("button", { name: 'Delete "Write the annual report"' }).click();
  await expect(taskItems(page)).toHaveCount(0);
  await expect.poll(async () => (await listViaApi(server, account)).length).toBe(0);

  // Sign out, then back in through the form.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin\/$/);
  await page.goto(server.url("/dashboard/"));
  await expect(page).toHaveURL(/\/signin\/$/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /password/i })).toBeVisible();
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/dashboard\/$/);
  await expect(page.getByText("No tasks yet")).toBeVisible();
});

test("two tabs of one user stay in sync live; another user sees none of it", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Ada");
  const bob = await signUpViaApi(server, "Bob");
  const ctxA = await signedInContext(browser, ada);
  const ctxB = await signedInContext(browser, ada);
  const ctxBob = await signedInContext(browser, bob);
  const [pageA, pageB, pageBob] = await Promise.all([
    openDashboard(ctxA, server),
    openDashboard(ctxB, server),
    openDashboard(ctxBob, server),
  ]);

  // Record, in tab B, when the new task's row appears.
  const title = "Buy oat milk";
  await pageB.evaluate((t) => {
    const w = window as unknown as { seenAt?: number };
    new MutationObserver((_, obs) => {
      if (document.querySelector('ul[aria-label="Tasks"]')?.textContent?.includes(t)) {
        w.seenAt = Date.now();
        obs.disconnect();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  }, title);

  await pageA.getByLabel("New task title").fill(title);
  const clickedAt = Date.now();
  await pageA.getByRole("button", { name: "Add task" }).click();
  await expect(taskItem(pageB, title)).toHaveCount(1);
  const seenAt = await pageB.evaluate(() => (window as unknown as { seenAt: number }).seenAt);
  // When tab A had the API's answer, on the same clock (the resource timing of its POST).
  const respondedAt = await pageA.evaluate(() => {
    const posts = performance
      .getEntriesByType("resource")
      .filter((e) => (e as PerformanceResourceTiming).initiatorType === "fetch" && /\/tasks$/.test(e.name));
    const last = posts[posts.length - 1] as PerformanceResourceTiming;
    return performance.timeOrigin + last.responseEnd;
  });
  console.log(
    `E2E live sync: tab B showed the task ${Math.round(seenAt - respondedAt)} ms after tab A had the ` +
      `API's answer, ${seenAt - clickedAt} ms after the click (asserted: under 2000 ms after the click)`,
  );
  expect(seenAt - clickedAt).toBeLessThan(2_000);

  // Changes flow both ways, each shown once.
  await pageB.getByRole("checkbox", { name: `Complete "${title}"` }).check();
  await expect(pageA.getByRole("checkbox", { name: `Complete "${title}"` })).toBeChecked();
  await pageA.getByRole("button", { name: `Edit "${title}"` }).click();
  const dialog = pageA.getByRole("dialog", { name: "Edit task" });
  await dialog.getByLabel("Title").fill("Buy oat milk and bread");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(taskItem(pageB, "Buy oat milk and bread")).toHaveCount(1);
  await expect(taskItems(pageA)).toHaveCount(1);
  await expect(taskItems(pageB)).toHaveCount(1);

  // A change made elsewhere (the API) appears in both, once.
  await createTaskViaApi(server, ada, { title: "Call the plumber", priority: "high" });
  await expect(taskItem(pageA, "Call the plumber")).toHaveCount(1);
  await expect(taskItem(pageB, "Call the plumber")).toHaveCount(1);
  await expect(taskItems(pageA)).toHaveCount(2);
  await expect(taskItems(pageB)).toHaveCount(2);

  await pageB.getByRole("button", { name: 'Delete "Call the plumber"' }).click();
  await expect(taskItem(pageA, "Call the plumber")).toHaveCount(0);
  await screenshot(pageA, "live-tab-a");
  await screenshot(pageB, "live-tab-b");

  // Bob saw nothing, also after a reload.
  await expect(pageBob.getByText("No tasks yet")).toBeVisible();
  await pageBob.reload();
  await expect(pageBob.getByText("No tasks yet")).toBeVisible();
  await expect(taskItems(pageBob)).toHaveCount(0);

  await Promise.all([ctxA.close(), ctxB.close(), ctxBob.close()]);
});

test("search, filters and sort; more tasks load as you scroll", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Scroller");
  for (let i = 1; i <= 60; i++) {
    await createTaskViaApi(server, ada, {
      title: `Task ${String(i).padStart(2, "0")}`,
      priority: i % 3 === 0 ? "high" : "low",
      tags: i % 10 === 0 ? ["milestone"] : [],
    });
  }
  const ctx = await signedInContext(browser, ada);
  const page = await openDashboard(ctx, server);

  await expect(taskItems(page)).toHaveCount(50);
  await taskItems(page).last().scrollIntoViewIfNeeded();
  await page.mouse.wheel(0, 20_000);
  await expect(taskItems(page)).toHaveCount(60);
  await expect(taskItems(page).first()).toContainText("Task 60"); // newest first

  await page.getByLabel("Search").fill("task 0");
  await expect(taskItems(page)).toHaveCount(9);
  await page.getByLabel("Search").fill("");
  await expect(taskItems(page)).toHaveCount(50);

  await page.getByLabel("Priority").first().selectOption("high");
  await expect(taskItems(page)).toHaveCount(20);
  await page.getByLabel("Tag").fill("milestone");
  await expect(taskItems(page)).toHaveCount(2); // 30 and 60

  await page.getByLabel("Sort by").selectOption("title");
  await page.getByLabel("Order").selectOption("asc");
  await expect(taskItems(page).first()).toContainText("Task 30");

  // A live change that does not match the filters stays out of the list.
  await createTaskViaApi(server, ada, { title: "Task 61", priority: "low", tags: ["milestone"] });
  await createTaskViaApi(server, ada, { title: "Task 62", priority: "high", tags: ["milestone"] });
  await expect(taskItem(page, "Task 62")).toHaveCount(1);
  await expect(taskItem(page, "Task 61")).toHaveCount(0);
  await expect(taskItems(page)).toHaveCount(3);

  await page.getByLabel("Status").selectOption("completed");
  await expect(page.getByText("No tasks match")).toBeVisible();
  await screenshot(page, "filtered-empty");
  await ctx.close();
});

test("a stale edit shows the newer version; keep mine or take theirs", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Conflicted");
  const task = await createTaskViaApi(server, ada, { title: "Plan the trip" });
  const ctx = await signedInContext(browser, ada);
  const page = await openDashboard(ctx, server);
  await expect(taskItem(page, "Plan the trip")).toHaveCount(1);

  // Tab is editing while the task changes elsewhere. The live update must not
  // overwrite what the user is typing.
  await page.getByRole("button", { name: 'Edit "Plan the trip"' }).click();
  const dialog = page.getByRole("dialog", { name: "Edit task" });
  await dialog.getByLabel("Title").fill("Plan the trip to Lisbon");
  const r = await server.api("PATCH", `/api/${ada.user.id}/tasks/${task.id}`, ada.token, {
    title: "Plan the trip to Porto",
  });
  expect(r.status).toBe(200);
  await expect(taskItem(page, "Plan the trip to Porto")).toHaveCount(1);
  await dialog.getByRole("button", { name: "Save" }).click();

  const conflict = page.getByRole("dialog", { name: "This task changed" });
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText("Plan the trip to Porto");
  await expect(conflict).toContainText("Plan the trip to Lisbon");
  await screenshot(page, "conflict");
  await conflict.getByRole("button", { name: "Keep mine" }).click();
  await expect(conflict).toHaveCount(0);
  await expect(taskItem(page, "Plan the trip to Lisbon")).toHaveCount(1);
  await expect
    .poll(async () => (await listViaApi(server, ada)).map((t) => t.title))
    .toEqual(["Plan the trip to Lisbon"]);

  // Now take theirs.
  await page.getByRole("button", { name: 'Edit "Plan the trip to Lisbon"' }).click();
  await dialog.getByLabel("Title").fill("Plan the trip to Faro");
  await server.api("PATCH", `/api/${ada.user.id}/tasks/${task.id}`, ada.token, { title: "Plan the trip to Braga" });
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(conflict).toBeVisible();
  // Taking theirs writes nothing: count this task's PATCH/PUT from the click on.
  const writesAfterTake: string[] = [];
  page.on("request", (req) => {
    if ((req.method() === "PATCH" || req.method() === "PUT") && new RegExp(`/tasks/${task.id}(/|$)`).test(req.url()))
      writesAfterTake.push(`${req.method()} ${req.url()}`);
  });
  await conflict.getByRole("button", { name: "Take theirs" }).click();
  await expect(taskItem(page, "Plan the trip to Braga")).toHaveCount(1);
  expect((await listViaApi(server, ada)).map((t) => t.title)).toEqual(["Plan the trip to Braga"]);
  expect(writesAfterTake).toEqual([]);
  await ctx.close();
});

test("keyboard only, and a phone-width screen", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Keyboard");
  const ctx = await signedInContext(browser, ada);
  const page = await openDashboard(ctx, server);

  await page.getByLabel("New task title").focus();
  await page.keyboard.type("Typed without a mouse");
  await page.keyboard.press("Enter");
  await expect(taskItem(page, "Typed without a mouse")).toHaveCount(1);

  // Reach the row's edit button with Tab, open it with Enter, leave with Escape.
  const edit = page.getByRole("button", { name: 'Edit "Typed without a mouse"' });
  for (let i = 0; i < 40 && !(await edit.evaluate((el) => el === document.activeElement)); i++)
    await page.keyboard.press("Tab");
  await expect(edit).toBeFocused();
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Edit task" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Title")).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await expect(edit).toBeFocused();

  await page.setViewportSize({ width: 375, height: 740 });
  await expect(taskItem(page, "Typed without a mouse")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await screenshot(page, "dashboard-phone");
  await ctx.close();
});

test("due dates are entered and shown in the browser's time zone, DST included", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Zoned");
  const zoned = await signedInContext(browser, ada, { timezoneId: "America/New_York" });
  const page = await openDashboard(zoned, server);

  const form = page.getByRole("form", { name: "New task" });
  await form.getByLabel("New task title").fill("Winter review");
  await form.getByRole("button", { name: "More options" }).click();
  await form.getByLabel("Description").fill("Bring the numbers");
  await form.getByLabel("Priority").selectOption("low");
  await form.getByLabel("Tags").fill("q4, review");
  await form.getByLabel("Due date").fill("2026-12-01T09:00");
  await form.getByRole("button", { name: "Add task" }).click();
  await expect(taskItem(page, "Winter review")).toHaveCount(1);

  // 09:00 in New York in December is 14:00 UTC (EST, -05:00).
  let [task] = await listViaApi(server, ada);
  expect([task.due_date, task.description, task.priority, task.tags]).toEqual([
    "2026-12-01T14:00:00.000Z",
    "Bring the numbers",
    "low",
    ["q4", "review"],
  ]);
  await expect(taskItem(page, "Winter review").locator("time")).toHaveAttribute("datetime", "2026-12-01T14:00:00.000Z");

  // Moved into summer time: the same wall-clock hour is 13:00 UTC (EDT, -04:00).
  await page.getByRole("button", { name: 'Edit "Winter review"' }).click();
  const dialog = page.getByRole("dialog", { name: "Edit task" });
  await expect(dialog.getByLabel("Due date")).toHaveValue("2026-12-01T09:00");
  await dialog.getByLabel("Due date").fill("2027-07-01T09:00");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toHaveCount(0);
  await expect.poll(async () => (await listViaApi(server, ada))[0].due_date).toBe("2027-07-01T13:00:00.000Z");

  // Cleared.
  await page.getByRole("button", { name: 'Edit "Winter review"' }).click();
  await dialog.getByLabel("Due date").fill("");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect.poll(async () => (await listViaApi(server, ada))[0].due_date).toBeNull();
  [task] = await listViaApi(server, ada);
  expect(task.version).toBe(3);
  await zoned.close();
});

test("a failing load shows an error with Retry", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Unlucky");
  await createTaskViaApi(server, ada, { title: "Still here" });
  const ctx = await signedInContext(browser, ada);
  let failing = true;
  await ctx.route(/\/api\/[^/]+\/tasks\?/, (route) =>
    failing
      ? route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({ error: { code: "unavailable", message: "The database cannot be reached" } }),
        })
      : route.continue(),
  );
  const page = await ctx.newPage();
  await page.goto(server.url("/dashboard/"));
  const alert = page.getByRole("alert").filter({ hasText: "database cannot be reached" });
  await expect(alert).toBeVisible();
  await screenshot(page, "load-error");
  failing = false;
  await alert.getByRole("button", { name: "Retry" }).click();
  await expect(taskItem(page, "Still here")).toHaveCount(1);
  await ctx.close();
});

test("a second click on a checkbox while its request is out sends nothing more", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Quick Clicker");
  await createTaskViaApi(server, ada, { title: "Click me twice" });
  const ctx = await signedInContext(browser, ada);
  let patches = 0;
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await ctx.route(/\/api\/[^/]+\/tasks\/\d+\/complete$/, async (route) => {
    patches++;
    await held; // every PATCH waits here, so a second one would be out at the same time
    await route.continue();
  });
  const page = await openDashboard(ctx, server);
  const box = page.getByRole("checkbox", { name: 'Complete "Click me twice"' });
  await box.click();
  await expect.poll(() => patches).toBe(1);
  await box.click();
  await box.click();
  await expect(box).toBeChecked(); // still showing the value being saved
  release();
  await expect.poll(async () => (await listViaApi(server, ada)).map((t) => t.completed)).toEqual([true]);
  await expect(box).toBeChecked();
  expect(patches).toBe(1);
  await ctx.close();
});

test("the server refusing the live socket's token signs out with a notice", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Refused Elsewhere");
  const ctx = await signedInContext(browser, ada); // a token the browser still believes valid
  const page = await ctx.newPage();
  await page.routeWebSocket(/\/ws\/user\//, (ws) => ws.close({ code: 4001, reason: "token expired" }));
  await page.goto(server.url("/dashboard/"));
  await expect(page.getByText("Your session has expired; sign in again.")).toBeVisible();
  await expect(page).toHaveURL(/\/signin\/$/);
  expect(await page.evaluate(() => localStorage.getItem("taskflow.session"))).toBeNull();
  await ctx.close();
});
