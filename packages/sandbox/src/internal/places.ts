/**
 * Localisation of the place names in user profiles for `/sns/userinfo?lang=`: WeChat answers
 * `zh_CN` (default), `zh_TW` and `en`. Names the table does not know are returned unchanged.
 *
 * @internal
 */

/** @internal */
export type Lang = "zh_CN" | "zh_TW" | "en"

const table: ReadonlyArray<readonly [zh_CN: string, zh_TW: string, en: string]> = [
  ["中国", "中國", "China"],
  ["广东", "廣東", "Guangdong"],
  ["深圳", "深圳", "Shenzhen"],
  ["广州", "廣州", "Guangzhou"],
  ["北京", "北京", "Beijing"],
  ["朝阳", "朝陽", "Chaoyang"],
  ["海淀", "海淀", "Haidian"],
  ["上海", "上海", "Shanghai"],
  ["浦东新区", "浦東新區", "Pudong New District"],
  ["浙江", "浙江", "Zhejiang"],
  ["杭州", "杭州", "Hangzhou"],
  ["四川", "四川", "Sichuan"],
  ["成都", "成都", "Chengdu"],
  ["江苏", "江蘇", "Jiangsu"],
  ["南京", "南京", "Nanjing"],
  ["台湾", "台灣", "Taiwan"],
  ["台北", "台北", "Taipei"],
  ["香港", "香港", "Hong Kong"],
  ["澳门", "澳門", "Macau"],
  ["美国", "美國", "United States"],
  ["加利福尼亚", "加利福尼亞", "California"],
  ["旧金山", "舊金山", "San Francisco"]
]

const index = new Map<string, readonly [string, string, string]>()
for (const row of table) {
  for (const name of row) index.set(name, row)
}

/** WeChat ignores a `lang` it does not know and answers in simplified Chinese. @internal */
export const parseLang = (lang: string | undefined): Lang => lang === "zh_TW" || lang === "en" ? lang : "zh_CN"

/** @internal */
export const localize = (name: string, lang: Lang): string => {
  const row = index.get(name)
  if (row === undefined) return name
  return lang === "zh_CN" ? row[0] : lang === "zh_TW" ? row[1] : row[2]
}
