import Link from "next/link";

export default function NotFound() {
  return (
    <main className="mx-auto flex min-h-screen max-w-sm flex-col items-center justify-center gap-3 px-4 text-center">
      <p className="text-2xl font-bold text-blue-700">TaskFlow</p>
      <h1 className="text-lg font-semibold">Page not found</h1>
      <p className="text-slate-600">There is nothing at this address.</p>
      <Link href="/" className="font-medium text-blue-700 underline">
        Go to your tasks
      </Link>
    </main>
  );
}
