/**
 * The Things Stack's API key rights by the names the Console shows, so messages can say which right to
 * add instead of printing an enum. Only the application rights this package needs are named here; any
 * other right is shown as the server spells it.
 */

export const Right = {
  Info: 'RIGHT_APPLICATION_INFO',
  TrafficRead: 'RIGHT_APPLICATION_TRAFFIC_READ',
  TrafficDownWrite: 'RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE',
  DevicesRead: 'RIGHT_APPLICATION_DEVICES_READ',
  DevicesWrite: 'RIGHT_APPLICATION_DEVICES_WRITE',
  SettingsBasic: 'RIGHT_APPLICATION_SETTINGS_BASIC',
  Link: 'RIGHT_APPLICATION_LINK',
  All: 'RIGHT_APPLICATION_ALL',
} as const
export type RightName = (typeof Right)[keyof typeof Right]

/** The checkbox labels of the Console's "Add API key" page. */
const LABELS: Record<string, string> = {
  RIGHT_APPLICATION_INFO: 'View application information',
  RIGHT_APPLICATION_TRAFFIC_READ: 'Read application traffic (uplink and downlink)',
  RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE: 'Write downlink application traffic',
  RIGHT_APPLICATION_TRAFFIC_UP_WRITE: 'Write uplink application traffic',
  RIGHT_APPLICATION_DEVICES_READ: 'View devices in application',
  RIGHT_APPLICATION_DEVICES_WRITE: 'Create devices in application',
  RIGHT_APPLICATION_DEVICES_READ_KEYS: 'View device keys in application',
  RIGHT_APPLICATION_DEVICES_WRITE_KEYS: 'Edit device keys in application',
  RIGHT_APPLICATION_SETTINGS_BASIC: 'Edit basic application settings',
  RIGHT_APPLICATION_SETTINGS_API_KEYS: 'Edit application API keys',
  RIGHT_APPLICATION_SETTINGS_PACKAGES: 'Edit application packages settings',
  RIGHT_APPLICATION_LINK: 'Link as Application to a Network Server for traffic exchange',
  RIGHT_APPLICATION_DELETE: 'Delete application',
  RIGHT_APPLICATION_ALL: 'All application rights',
}

/** "Read application traffic (uplink and downlink)" for RIGHT_APPLICATION_TRAFFIC_READ; unknown names as given. */
export function rightLabel(right: string): string {
  return LABELS[right] ?? right
}

/** The server expands RIGHT_APPLICATION_ALL in auth_info, but a hand-made answer may not: treat it as every right. */
export function hasRight(rights: readonly string[], right: string): boolean {
  return rights.includes(right) || rights.includes(Right.All)
}
