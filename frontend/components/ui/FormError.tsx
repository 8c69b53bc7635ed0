/** A form's error message, announced when it appears; `id` is for the fields' aria-describedby. */
export function FormError({ id, className = "", children }: { id?: string; className?: string; children: React.ReactNode }) {
  return (
    <p id={id} role="alert" className={`rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ${className}`.trim()}>
      {children}
    </p>
  );
}
