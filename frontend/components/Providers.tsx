"use client";

import { SessionProvider } from "./session/SessionProvider";
import { WebSocketProvider } from "./realtime/WebSocketProvider";

export default function Providers({ children }: { children: React.ReactNode }) {
  return (
    <SessionProvider>
      <WebSocketProvider>{children}</WebSocketProvider>
    </SessionProvider>
  );
}
