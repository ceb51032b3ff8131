/** Every `detail` that `target` dispatches as a `type` event from now on, in order (the array fills as events arrive). */
export function collect<T> (target: EventTarget, type: string): T[] {
  const seen: T[] = []
  target.addEventListener(type, (e) => { seen.push((e as CustomEvent<T>).detail) })
  return seen
}
