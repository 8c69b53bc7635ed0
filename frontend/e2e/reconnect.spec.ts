import { expect, test } from "@playwright/test";
import { TaskflowServer } from "./server";
import { createTaskViaApi, openDashboard, screenshot, signedInContext, signUpViaApi, taskItem, taskItems } from "./helpers";

test("the server restarts while a page is open; a change made meanwhile appears after the reconnect", async ({
  browser,
}) => {
  const server = await TaskflowServer.start("restart");
  // Another replica on the same database, to change things while the first is down.
  let other: TaskflowServer | null = null;
  try {
    const ada = await signUpViaApi(server, "Restart");
    await createTaskViaApi(server, ada, { title: "Before the restart" });
    const ctx = await signedInContext(browser, ada);
    const sockets: string[] = [];
    ctx.on("page", (p) => p.on("websocket", (ws) => sockets.push(ws.url())));
    const page = await openDashboard(ctx, server);
    await expect(taskItem(page, "Before the restart")).toHaveCount(1);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    expect(await server.stop()).toBe(0);
    await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", /reconnecting|connecting/);
    await expect(page.getByRole("status").filter({ hasText: "Reconnecting" })).toBeVisible();
    await screenshot(page, "reconnecting");

    // The in-process bus serves one instance: the replica stops before the
    // first comes back, so the change reaches the page only by the resume.
    other = await TaskflowServer.start("restart-other", server);
    await createTaskViaApi(other, ada, { title: "Made while it was down" });
    expect(await other.stop()).toBe(0);
    other = null;

    await server.start();
    await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", "open", { timeout: 20_000 });
    await expect(taskItem(page, "Made while it was down")).toHaveCount(1);
    await expect(taskItems(page)).toHaveCount(2);
    // Resumed in place: the page was not reloaded, and it asked for what it missed
    // (since=<the seq it had>); the token travels in the subprotocol, never in a URL.
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
    expect(sockets[0]).toMatch(/\/ws\/user\/[^/]+\/tasks$/);
    expect(sockets[sockets.length - 1]).toMatch(/\?since=\d+$/);
    expect(sockets.filter((u) => u.includes("token"))).toEqual([]);
    expect(sockets.filter((u) => u.includes(ada.token))).toEqual([]); // nor the JWT under another name

    // And live again.
    await createTaskViaApi(server, ada, { title: "After the restart" });
    await expect(taskItem(page, "After the restart")).toHaveCount(1);
    await expect(taskItems(page)).toHaveCount(3);
    await ctx.close();
  } finally {
    if (other) expect(await other.stop()).toBe(0);
    expect(await server.stop()).toBe(0);
  }
});

test("after five failed attempts a Reconnect button brings the page back", async ({ browser }) => {
  const server = await TaskflowServer.start("give-up");
  try {
    const ada = await signUpViaApi(server, "Patient");
    const ctx = await signedInContext(browser, ada);
    const page = await openDashboard(ctx, server);
    expect(await server.stop()).toBe(0);
    await expect(page.getByRole("button", { name: "Reconnect" })).toBeVisible({ timeout: 45_000 });
    await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", "failed");
    await screenshot(page, "connection-lost");
    await server.start();
    await createTaskViaApi(server, ada, { title: "Seen after Reconnect" });
    await page.getByRole("button", { name: "Reconnect" }).click();
    await expect(page.getByTestId("live-status")).toHaveAttribute("data-state", "open");
    await expect(taskItem(page, "Seen after Reconnect")).toHaveCount(1);
    await ctx.close();
  } finally {
    await server.stop();
  }
});
