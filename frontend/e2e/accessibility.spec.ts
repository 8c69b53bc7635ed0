import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { TaskflowServer } from "./server";
import { createTaskViaApi, openDashboard, signedInContext, signUpViaApi } from "./helpers";

let server: TaskflowServer;

test.beforeAll(async () => {
  server = await TaskflowServer.start("accessibility");
});

test.afterAll(async () => {
  expect(await server.stop()).toBe(0);
});

// WCAG 2.1 A and AA rules that axe can check (labels, names, contrast, roles, landmarks).
async function violations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
}

test("sign-in and sign-up pass the WCAG A/AA checks", async ({ page }) => {
  await page.goto(server.url("/signin/"));
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  expect(await violations(page)).toEqual([]);
  await page.goto(server.url("/signup/"));
  await expect(page.getByRole("button", { name: "Create account" })).toBeVisible();
  expect(await violations(page)).toEqual([]);
});

test("the dashboard, its dialog, the undo toast and the phone layout pass the WCAG A/AA checks", async ({ browser }) => {
  const ada = await signUpViaApi(server, "Checked");
  await createTaskViaApi(server, ada, { title: "Overdue", due_date: "2020-01-01T09:00:00Z", tags: ["old"] });
  await createTaskViaApi(server, ada, { title: "Done", completed: true, priority: "high" });
  const ctx = await signedInContext(browser, ada);
  const page = await openDashboard(ctx, server);
  await expect(page.getByRole("list", { name: "Tasks" }).locator("li")).toHaveCount(2);
  await page.getByRole("button", { name: "More options" }).click();
  expect(await violations(page)).toEqual([]);

  await page.getByRole("button", { name: 'Edit "Overdue"' }).click();
  await expect(page.getByRole("dialog", { name: "Edit task" })).toBeVisible();
  expect(await violations(page)).toEqual([]);
  await page.keyboard.press("Escape");

  await page.getByRole("button", { name: 'Delete "Done"' }).click();
  await expect(page.getByRole("button", { name: "Undo" })).toBeVisible();
  expect(await violations(page)).toEqual([]);

  await page.setViewportSize({ width: 375, height: 740 });
  expect(await violations(page)).toEqual([]);
  await ctx.close();
});
