import { expect, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { TaskflowServer } from "./server";

export interface Account {
  email: string;
  password: string;
  name: string;
  token: string;
  user: { id: string; email: string; name: string };
}

const SCREENSHOTS = path.join(__dirname, "..", "test-results", "screenshots");

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}@example.test`;
}

export async function signUpViaApi(server: TaskflowServer, name = "Ada Lovelace"): Promise<Account> {
  const email = uniqueEmail("e2e");
  const password = "correct horse battery";
  const r = await server.api("POST", "/api/auth/sign-up", undefined, { email, password, name });
  expect(r.status).toBe(201);
  const body = await r.json();
  return { email, password, name, token: body.token, user: body.user };
}

// A browser context already signed in as `account` (the session the sign-in
// page would have stored).
export async function signedInContext(
  browser: Browser,
  account: Account,
  options: BrowserContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  await context.addInitScript(
    ([token, user]) => {
      if (!localStorage.getItem("taskflow.session"))
        localStorage.setItem("taskflow.session", JSON.stringify({ token, user }));
    },
    [account.token, account.user] as const,
  );
  return context;
}

export async function openDashboard(context: BrowserContext, server: TaskflowServer): Promise<Page> {
  const page = await context.newPage();
  await page.goto(server.url("/dashboard/"));
  await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", "open");
  return page;
}

export function taskItems(page: Page) {
  return page.getByRole("list", { name: "Tasks" }).locator("li[data-task-id]");
}

export function taskItem(page: Page, title: string) {
  return taskItems(page).filter({ hasText: title });
}

export async function createTaskViaApi(
  server: TaskflowServer,
  account: Account,
  fields: Record<string, unknown>,
): Promise<{ id: number; version: number; title: string }> {
  const r = await server.api("POST", `/api/${account.user.id}/tasks`, account.token, fields);
  expect(r.status).toBe(201);
  return r.json();
}

export async function listViaApi(server: TaskflowServer, account: Account, query = "") {
  const r = await server.api("GET", `/api/${account.user.id}/tasks?limit=200${query}`, account.token);
  expect(r.status).toBe(200);
  return (await r.json()).items as Array<Record<string, unknown>>;
}
