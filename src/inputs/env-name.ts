/** CUTOVER_SSH_HOST for ssh-host: the environment variable a setting is read from by the config layers. */
export function envName(setting: string): string {
  return `CUTOVER_${setting.toUpperCase().replace(/-/g, '_')}`
}
