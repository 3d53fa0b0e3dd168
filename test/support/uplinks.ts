/** Uplink messages for health tests, shaped like The Things Stack's. */
import type { V3UplinkMessage } from '../../src/sdk/messages'

/** A v3 uplink of `deviceId` with counter `fCnt`, heard by the given gateways ([id, rssi, snr]). */
export function uplink(
  deviceId: string,
  fCnt: number,
  opts: { session?: string; gateways?: [string, number, number][]; sf?: number; at?: string } = {},
): V3UplinkMessage {
  const gateways = opts.gateways ?? [['gw-a', -80, 7.5]]
  return {
    end_device_ids: { device_id: deviceId, dev_eui: '70B3D57ED0000001', application_ids: { application_id: 'app1' } },
    received_at: opts.at ?? new Date().toISOString(),
    uplink_message: {
      session_key_id: opts.session ?? 'S1',
      f_port: 1,
      ...(fCnt === 0 ? {} : { f_cnt: fCnt }), // the server omits a counter of 0
      rx_metadata: gateways.map(([id, rssi, snr]) => ({ gateway_ids: { gateway_id: id }, rssi, snr })),
      settings: { data_rate: { lora: { bandwidth: 125000, spreading_factor: opts.sf ?? 7 } }, frequency: '868100000' },
    },
  }
}
