export function parseOutputFile(text: string): Record<string, string>
export function testbedInputs(bed: Record<string, string>, app: string, proxyPort: number): Record<string, string>
