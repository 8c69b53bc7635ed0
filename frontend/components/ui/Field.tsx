import { fieldClass, labelClass } from "./styles";

/** A label above one control; `id` is the control's id. */
export function Field({
  id,
  label,
  className,
  children,
}: {
  id: string;
  label: string;
  className?: string;
  children: React.ReactNode;
}) {
  return (
    <div className={className}>
      <label htmlFor={id} className={labelClass}>
        {label}
      </label>
      {children}
    </div>
  );
}

/** The [value, text] pairs of a SelectField. */
export type Options<V extends string> = readonly (readonly [V, string])[];

/** A labelled <select> over fixed options. */
export function SelectField<V extends string>({
  id,
  label,
  value,
  options,
  onChange,
  ...rest
}: {
  id: string;
  label: string;
  value: V;
  options: Options<V>;
  onChange: (value: V) => void;
} & Pick<React.SelectHTMLAttributes<HTMLSelectElement>, "aria-invalid" | "aria-describedby">) {
  return (
    <Field id={id} label={label}>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as V)} className={fieldClass} {...rest}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}
