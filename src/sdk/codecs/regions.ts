/**
 * The Device Repository names regions (`EU863-870`), uplinks carry The Things Stack's band IDs
 * (`EU_863_870`). The table is The Things Stack's own (pkg/devicerepository/store/remote/enums.go,
 * regionToBandID), with AS923-4, which the repository's schema lists and the band package defines.
 */
export const REGION_BY_BAND_ID: Readonly<Record<string, string>> = {
  EU_863_870: 'EU863-870',
  US_902_928: 'US902-928',
  CN_779_787: 'CN779-787',
  EU_433: 'EU433',
  AU_915_928: 'AU915-928',
  CN_470_510: 'CN470-510',
  AS_923: 'AS923',
  AS_923_2: 'AS923-2',
  AS_923_3: 'AS923-3',
  AS_923_4: 'AS923-4',
  KR_920_923: 'KR920-923',
  IN_865_867: 'IN865-867',
  RU_864_870: 'RU864-870',
}

export function regionOfBand(bandId: string | undefined): string | undefined {
  return bandId ? REGION_BY_BAND_ID[bandId] : undefined
}
